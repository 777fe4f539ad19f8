//! Route matching with Spin's precedence (Spin's `crates/routes`, built on `routefinder`).
//!
//! Routes are exact (`/a/b`), carry `:name` segments (one segment each), or end in a trailing
//! wildcard `/...`. Among matches, the more specific wins segment by segment (a literal segment
//! beats `:name`, which beats the wildcard; a route that ends beats one that continues with a
//! wildcard), so exact beats wildcard and the longest prefix wins. One trailing slash on the
//! path is ignored for non-wildcard routes. A route declared twice: the last one wins.
//! `{ private = true }` routes are not routable at all (reachable only by chaining).

use std::cmp::Ordering;

use anyhow::{Context as _, bail};

/// A parsed route of one component.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    /// The component that handles it.
    pub(crate) component: String,
    /// The route as written in the manifest (`spin-raw-component-route`).
    pub(crate) raw: String,
    /// The route with the base (always `/`) applied (`spin-matched-route`).
    pub(crate) based: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Clone, Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The outcome of routing one path.
#[derive(Clone, Debug)]
pub(crate) struct RouteMatch {
    pub(crate) component: String,
    pub(crate) raw_route: String,
    pub(crate) based_route: String,
    /// `(name, value)` of each `:name` segment, in route order.
    pub(crate) params: Vec<(String, String)>,
    /// `spin-path-info`.
    pub(crate) path_info: String,
}

impl RouteMatch {
    /// The match Spin makes for a service-chained request: the synthetic route `/...`.
    pub(crate) fn synthetic(component: &str, path: &str) -> Self {
        Self {
            component: component.to_owned(),
            raw_route: "/...".into(),
            based_route: "/...".into(),
            params: Vec::new(),
            path_info: path.to_owned(),
        }
    }

    /// `spin-component-route`: the raw route without its trailing `/...`.
    pub(crate) fn component_route(&self) -> &str {
        self.raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
    }
}

impl Route {
    pub(crate) fn parse(component: &str, raw: &str) -> anyhow::Result<Self> {
        let based = sanitize_with_base(raw);
        let (pattern, wildcard) = match based.strip_suffix("/...") {
            Some(prefix) => (prefix, true),
            None => match based.strip_suffix("/*") {
                Some(prefix) => (prefix, true),
                None => (based.as_str(), false),
            },
        };
        let mut segments = Vec::new();
        for seg in pattern.split('/').skip(1) {
            if let Some(name) = seg.strip_prefix(':') {
                if name.is_empty() {
                    bail!(
                        "Error parsing route {based} associated with component {component}: empty parameter name"
                    );
                }
                segments.push(Segment::Param(name.to_owned()));
            } else if seg.contains('*') || seg == "..." {
                bail!(
                    "Error parsing route {based} associated with component {component}: wildcards are allowed only at the end"
                );
            } else {
                segments.push(Segment::Literal(seg.to_owned()));
            }
        }
        Ok(Self {
            component: component.to_owned(),
            raw: raw.to_owned(),
            based,
            segments,
            wildcard,
        })
    }

    /// How the route is printed at start-up, like `spin up` (`/x (wildcard)`).
    pub(crate) fn display(&self) -> String {
        let path = self
            .based
            .strip_suffix("/...")
            .unwrap_or(&self.based)
            .to_owned();
        let path = if path.is_empty() { "/".into() } else { path };
        if self.wildcard {
            format!("{path} (wildcard)")
        } else {
            path
        }
    }

    fn matches(&self, path: &str) -> Option<RouteMatch> {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let mut params = Vec::new();
        let mut remaining: Option<&str> = if rest.is_empty() { None } else { Some(rest) };
        for seg in &self.segments {
            let current = remaining?;
            let (head, tail) = match current.split_once('/') {
                Some((h, t)) => (h, Some(t)),
                None => (current, None),
            };
            match seg {
                Segment::Literal(lit) if lit == head => {}
                Segment::Param(name) if !head.is_empty() => {
                    params.push((name.clone(), head.to_owned()))
                }
                _ => return None,
            }
            remaining = tail;
        }
        let path_info = if self.wildcard {
            match remaining {
                None => String::new(),
                Some(tail) => format!("/{tail}"),
            }
        } else {
            // Exact routes tolerate one trailing slash, like routefinder.
            match remaining {
                None | Some("") => String::new(),
                Some(_) => return None,
            }
        };
        Some(RouteMatch {
            component: self.component.clone(),
            raw_route: self.raw.clone(),
            based_route: self.based.clone(),
            params,
            path_info,
        })
    }

    /// Specificity order: `Greater` means `self` is the better match.
    fn specificity(&self, other: &Self) -> Ordering {
        for i in 0.. {
            let rank = |r: &Route| match r.segments.get(i) {
                Some(Segment::Literal(_)) => 3,
                Some(Segment::Param(_)) => 2,
                None if r.wildcard => 1,
                None => 4,
            };
            let (a, b) = (rank(self), rank(other));
            if a != b || a == 4 || a == 1 {
                return a.cmp(&b);
            }
        }
        Ordering::Equal
    }
}

/// The routable routes of an app.
#[derive(Clone, Debug, Default)]
pub(crate) struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds the router; a duplicate route replaces the earlier one in place (Spin warns).
    pub(crate) fn build<'a>(
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<(Self, Vec<String>)> {
        let mut out: Vec<Route> = Vec::new();
        let mut warnings = Vec::new();
        for (component, raw) in routes {
            let route = Route::parse(component, raw)
                .with_context(|| format!("invalid route {raw:?} of component {component:?}"))?;
            if let Some(existing) = out.iter_mut().find(|r| r.raw == route.raw) {
                warnings.push(format!(
                    "  {}: {} (duplicate of {})",
                    existing.component, existing.based, route.component
                ));
                *existing = route;
            } else {
                out.push(route);
            }
        }
        Ok((Self { routes: out }, warnings))
    }

    pub(crate) fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The best match for `path`, if any.
    pub(crate) fn route(&self, path: &str) -> Option<RouteMatch> {
        self.routes
            .iter()
            .filter_map(|r| r.matches(path).map(|m| (r, m)))
            .reduce(|best, cand| {
                if cand.0.specificity(best.0) == Ordering::Greater {
                    cand
                } else {
                    best
                }
            })
            .map(|(_, m)| m)
    }
}

/// Spin's `sanitize_with_base("/", route)`: absolutize, then strip one trailing slash.
fn sanitize_with_base(route: &str) -> String {
    let abs = if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    };
    abs.strip_suffix('/').map(str::to_owned).unwrap_or(abs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build(routes.iter().copied()).unwrap().0
    }

    fn who(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_beats_wildcard_and_longest_prefix_wins() {
        let r = router(&[
            ("all", "/..."),
            ("one", "/one/..."),
            ("onetwo", "/one/two/..."),
            ("exact", "/one/two"),
        ]);
        assert_eq!(who(&r, "/one/two").as_deref(), Some("exact"));
        assert_eq!(who(&r, "/one/two/three").as_deref(), Some("onetwo"));
        assert_eq!(who(&r, "/one/x").as_deref(), Some("one"));
        assert_eq!(who(&r, "/zzz").as_deref(), Some("all"));
        assert_eq!(who(&r, "/").as_deref(), Some("all"));
    }

    #[test]
    fn trailing_wildcard_path_info_matches_spin() {
        let r = router(&[("c", "/test/...")]);
        let info = |p: &str| r.route(p).unwrap().path_info;
        assert_eq!(info("/test"), "");
        assert_eq!(info("/test/"), "/");
        assert_eq!(info("/test/hello"), "/hello");
        assert_eq!(info("/test/hello/"), "/hello/");
        assert!(r.route("/testing").is_none());
        let all = router(&[("c", "/...")]);
        assert_eq!(all.route("/1/2/3").unwrap().path_info, "/1/2/3");
    }

    #[test]
    fn named_segments_capture_and_rank_below_literals() {
        let r = router(&[
            ("param", "/users/:id"),
            ("literal", "/users/me"),
            ("deep", "/1/:two/..."),
        ]);
        let m = r.route("/users/42").unwrap();
        assert_eq!(m.component, "param");
        assert_eq!(m.params, vec![("id".to_string(), "42".to_string())]);
        assert_eq!(who(&r, "/users/me").as_deref(), Some("literal"));
        let m = r.route("/1/2/3").unwrap();
        assert_eq!((m.params[0].1.as_str(), m.path_info.as_str()), ("2", "/3"));
    }

    #[test]
    fn exact_routes_ignore_one_trailing_slash_and_root_is_exact() {
        let r = router(&[("foo", "/foo"), ("root", "/")]);
        assert_eq!(who(&r, "/foo/").as_deref(), Some("foo"));
        assert_eq!(who(&r, "/").as_deref(), Some("root"));
        assert_eq!(who(&r, "/bar"), None);
    }

    #[test]
    fn duplicate_routes_last_one_wins() {
        let (r, warnings) = Router::build([("first", "/foo"), ("second", "/foo")]).unwrap();
        assert_eq!(who(&r, "/foo").as_deref(), Some("second"));
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn component_route_strips_wildcard() {
        let r = router(&[("c", "/foo/:id/...")]);
        let m = r.route("/foo/42/bar").unwrap();
        assert_eq!(m.component_route(), "/foo/:id");
        assert_eq!(m.based_route, "/foo/:id/...");
        assert_eq!(RouteMatch::synthetic("c", "/x").component_route(), "");
    }
}
