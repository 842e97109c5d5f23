//! Closed sets of names the database stores as text (a lead's source, its
//! status, …): each declared once with `stored_enum!`, and read and written
//! by the store through [`StoredName`].

/// A closed set of names stored in the database as text: what the store
/// reads and writes every such column with.
pub trait StoredName: Copy + 'static {
    /// The spelling stored in the database.
    fn as_str(self) -> &'static str;
    /// Reads the stored spelling back.
    fn parse_stored(text: &str) -> Option<Self>;
}

/// Declares a closed set of names stored in the database as text. A variant
/// written `Name = "stored" ("Label")` also has a label, how a person reads it.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal ($label:literal)),+ $(,)? }) => {
        stored_enum! { $(#[$meta])* $name { $($variant = $text),+ } }

        impl $name {
            /// How a person reads it, e.g. in "New lead: Jane Doe (Website)".
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }
        }
    };
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads the stored spelling back.
            pub fn parse_stored(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl $crate::domain::stored::StoredName for $name {
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }

            fn parse_stored(text: &str) -> Option<Self> {
                $name::parse_stored(text)
            }
        }
    };
}

pub(crate) use stored_enum;
