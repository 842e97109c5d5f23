//! sea-orm entities of the routing database.

pub mod settings {
    //! The current settings of each organisation (absent: routing off, version 0).

    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        /// One row per organisation.
        pub org_id: String,
        /// The settings as JSON (see `domain::settings::Settings`).
        pub settings: String,
        /// Bumped by every save; updates compare-and-set on it.
        pub version: i64,
        /// Who saved this version.
        pub updated_by: String,
        /// When this version was saved.
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit {
    //! One row per settings change: who, when, before and after.

    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_audit")]
    pub struct Model {
        #[sea_orm(primary_key)]
        /// Ascending with time: the audit's order and its page cursor.
        pub id: i64,
        /// Whose settings changed (every read filters on it).
        pub org_id: String,
        /// Who changed them.
        pub actor_id: String,
        /// When.
        pub at: ChronoDateTimeUtc,
        /// JSON; absent for the first save.
        pub before: Option<String>,
        /// The settings saved, as JSON.
        pub after: String,
        /// The version saved (`before` was the one below it).
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
