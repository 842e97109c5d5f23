//! Who a lead is, as sticky ownership compares contacts: the email as
//! matched (trimmed, lower case) and its domain, never a free-mail one.
//!
//! The free-mail list is data, `services/leads/data/free-mail-domains.txt`,
//! compiled in: a shared mailbox provider says nothing about a contact's
//! company, so `ana@gmail.com` and `ben@gmail.com` are strangers.

/// How a new lead matched an open one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchBy {
    /// The same email.
    Email,
    /// The same company email domain.
    Domain,
}

/// An open lead a new one matched, as routing is told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMatch {
    /// The matching lead's owner: the preferred owner.
    pub owner_id: String,
    /// How it matched.
    pub by: MatchBy,
    /// The matching lead.
    pub lead_id: String,
    /// When the matching lead was created (routing applies lookback_days).
    pub lead_created_at: chrono::DateTime<chrono::Utc>,
}

/// The free-mail domains, one per line ('#' comments).
const FREE_MAIL: &str = include_str!("../../data/free-mail-domains.txt");

/// The email as sticky ownership matches it: trimmed and lower case;
/// `None` for an empty one.
pub fn match_email(email: &str) -> Option<String> {
    let email = email.trim();
    (!email.is_empty()).then(|| email.to_lowercase())
}

/// The domain of an email (after its last `@`), lower case, if it has one
/// and it is not a free-mail provider's.
pub fn company_domain(email: &str) -> Option<String> {
    let email = match_email(email)?;
    let (_, domain) = email.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.');
    (!domain.is_empty() && !is_free_mail(domain)).then(|| domain.to_owned())
}

/// Whether `domain` (lower case) is a free-mail provider's.
pub fn is_free_mail(domain: &str) -> bool {
    FREE_MAIL
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .any(|listed| listed == domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_match_whatever_their_case_and_surrounding_spaces() {
        assert_eq!(
            match_email("  Ada.Lovelace@Example.COM "),
            match_email("ada.lovelace@example.com")
        );
        assert_eq!(match_email("   "), None);
    }

    #[test]
    fn a_company_domain_is_the_part_after_the_at_but_never_free_mail() {
        assert_eq!(company_domain(" ana@Acme.io ").as_deref(), Some("acme.io"));
        assert_eq!(company_domain("ben@GMAIL.com"), None);
        assert_eq!(company_domain("carl@googlemail.com"), None);
        assert_eq!(company_domain("no-at-sign"), None);
        assert_eq!(company_domain("dora@"), None);
        assert!(is_free_mail("outlook.com"));
        assert!(!is_free_mail("acme.io"));
        assert!(!is_free_mail("# free-mail"), "comments are not domains");
    }
}
