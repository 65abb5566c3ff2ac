//! `auth:` of a target or a request, as the `Authorization` header it sends.

use crate::decode::{Diagnostics, Fields, Located, text};
use crate::node::Node;

pub(crate) const AUTH_KEYS: &[&str] = &["basic", "bearer"];

pub(crate) const BASIC_KEYS: &[&str] = &["username", "password"];

/// `auth:` of a target or a request, as the `Authorization` header it
/// sends: `{bearer: token}` or `{basic: {username, password}}`; values may
/// be templates (`{{ env.TOKEN }}`). A static basic pair is encoded once
/// here; a templated one is encoded per request by the engine's
/// `b64encode` filter.
pub(super) fn add_auth(
    diags: &mut Diagnostics,
    node: &Node,
    headers: &mut Vec<(Located<String>, Located<String>)>,
) {
    let Some(mut f) = Fields::new(node, diags, "auth", AUTH_KEYS) else {
        return;
    };
    let value = match (f.get("basic"), f.get("bearer")) {
        (Some(b), None) => {
            let Some(mut bf) = Fields::new(b, diags, "basic auth", BASIC_KEYS) else {
                f.finish(diags);
                return;
            };
            let user = bf
                .require("username", diags, "e.g. `username: admin`")
                .and_then(|n| text(n, diags, "username"));
            let pass = bf
                .require("password", diags, "e.g. `password: \"{{ env.PASSWORD }}\"`")
                .and_then(|n| text(n, diags, "password"));
            bf.finish(diags);
            let (Some(user), Some(pass)) = (user, pass) else {
                f.finish(diags);
                return;
            };
            if user.value.contains(':') && !user.value.contains("{{") {
                diags.error_help(
                    user.span,
                    "a basic-auth user name cannot contain `:`",
                    "the `:` separates the user name from the password (RFC 7617)",
                );
            }
            let templated = |s: &str| s.contains("{{") || s.contains("{%");
            let v = if templated(&user.value) || templated(&pass.value) {
                format!(
                    "Basic {{% filter b64encode %}}{}:{}{{% endfilter %}}",
                    user.value, pass.value
                )
            } else {
                use base64::Engine as _;
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{}:{}", user.value, pass.value))
                )
            };
            Some(v)
        }
        (None, Some(t)) => text(t, diags, "bearer").map(|t| format!("Bearer {}", t.value)),
        (Some(_), Some(_)) => {
            diags.error_help(
                f.span,
                "`auth` is either `basic` or `bearer`, not both",
                "keep one of them",
            );
            None
        }
        (None, None) => {
            diags.error_help(
                f.span,
                "`auth` needs `basic` or `bearer`",
                "e.g. `auth: {bearer: \"{{ env.TOKEN }}\"}` or `auth: {basic: {username: admin, password: \"{{ env.PASSWORD }}\"}}`",
            );
            None
        }
    };
    f.finish(diags);
    let Some(value) = value else { return };
    if headers
        .iter()
        .any(|(k, _)| k.value.eq_ignore_ascii_case("authorization"))
    {
        diags.error_help(
            node.span,
            "`auth` and an `Authorization` header both set the same header",
            "keep one of them",
        );
        return;
    }
    headers.push((
        Located::new("Authorization".to_owned(), node.span),
        Located::new(value, node.span),
    ));
}
