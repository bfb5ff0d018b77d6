//! Where the sign-in page sends a person afterwards: back to the page that
//! asked them to sign in (`/login?next=…`), only ever on this site.

/// Longest `next` kept; longer ones send the person home.
const MAX_NEXT_CHARS: usize = 2000;

/// `next` if it is a path on this site: it begins with one `/` (not `//`,
/// which browsers read as another host, nor `/\`, which some browsers read
/// so too) and holds no backslash, whitespace or control character.
pub fn safe_next(next: &str) -> Option<&str> {
    let mut chars = next.chars();
    let local = chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && next.chars().count() <= MAX_NEXT_CHARS
        && !next.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control());
    local.then_some(next)
}

/// Where to go after signing in: `next` if it is safe, else the home page.
pub fn after_sign_in(next: Option<&str>) -> &str {
    next.and_then(safe_next).unwrap_or("/")
}

/// The sign-in page, asked to come back to `next` (when safe) afterwards.
pub fn sign_in_location(next: Option<&str>) -> String {
    match next.and_then(safe_next).filter(|next| *next != "/") {
        Some(next) => {
            format!("/login?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
        }
        None => "/login".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_this_site_are_kept() {
        for next in ["/", "/requests", "/requests?status=open&page=2", "/users/ann%40example.com#roles"] {
            assert_eq!(safe_next(next), Some(next));
        }
    }

    #[test]
    fn anything_that_could_leave_the_site_is_dropped() {
        for next in [
            "",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/a\\b",
            "javascript:alert(1)",
            "requests",
            "/\t/evil.example",
            "/ /evil.example",
            "/\n",
        ] {
            assert_eq!(safe_next(next), None, "{next:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(MAX_NEXT_CHARS))), None);
    }

    #[test]
    fn after_sign_in_an_unsafe_next_goes_home() {
        assert_eq!(after_sign_in(Some("/users")), "/users");
        assert_eq!(after_sign_in(Some("//evil.example")), "/");
        assert_eq!(after_sign_in(None), "/");
    }

    #[test]
    fn the_sign_in_location_carries_next_encoded() {
        assert_eq!(sign_in_location(Some("/requests?status=open")), "/login?next=%2Frequests%3Fstatus%3Dopen");
        assert_eq!(sign_in_location(Some("/")), "/login");
        assert_eq!(sign_in_location(Some("//evil.example")), "/login");
        assert_eq!(sign_in_location(None), "/login");
    }
}
