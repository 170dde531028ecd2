//! Validation of `[livestream]` and `[gate]`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::error::{invalid, ConfigError};
use crate::config::layer::{DevelopmentLayer, GateLayer, LivestreamLayer};
use crate::config::providers::{LivestreamSettings, DEFAULT_TTL, MAX_TTL};
use crate::model::duration;

/// `[livestream]`: all or nothing, starting with the secret.
pub(super) fn validate_livestream(
    l: LivestreamLayer,
) -> Result<Option<LivestreamSettings>, ConfigError> {
    let Some(secret) = l.secret.filter(|s| !s.expose().is_empty()) else {
        if l.api_token.is_some() || l.organization_id.is_some() || l.user_ids.is_some() {
            return Err(invalid(
                "livestream.secret (LATCHKEY_LIVESTREAM_SECRET)",
                "not set: the live events service's own JWT secret is needed to mint its tokens",
            ));
        }
        return Ok(None);
    };
    let api_token = l
        .api_token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            invalid(
                "livestream.api_token (LATCHKEY_LIVESTREAM_API_TOKEN)",
                "not set: the project API token the service filters events on (phc_…)",
            )
        })?;
    check_organization(l.organization_id.as_deref())?;
    let user_ids = l.user_ids.unwrap_or_default();
    if let Some((email, id)) = user_ids.iter().find(|(_, id)| **id <= 0) {
        return Err(invalid(
            "livestream.user_ids",
            format!("{email} = {id}: PostHog user ids are positive integers"),
        ));
    }
    let token_ttl = livestream_ttl(l.token_ttl)?;
    Ok(Some(LivestreamSettings {
        secret,
        api_token,
        organization_id: l.organization_id.map(|o| o.to_lowercase()),
        user_ids: user_ids
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v))
            .collect(),
        token_ttl,
    }))
}

/// `livestream.organization_id`, when set, is a UUID.
fn check_organization(org: Option<&str>) -> Result<(), ConfigError> {
    if let Some(org) = org {
        if uuid::Uuid::parse_str(org).is_err() {
            return Err(invalid(
                "livestream.organization_id (LATCHKEY_LIVESTREAM_ORGANIZATION_ID)",
                format!("{org:?} is not a UUID"),
            ));
        }
    }
    Ok(())
}

/// `livestream.token_ttl`: [`DEFAULT_TTL`] by default, from 30s to [`MAX_TTL`].
fn livestream_ttl(ttl: Option<String>) -> Result<Duration, ConfigError> {
    let token_ttl = match ttl {
        None => DEFAULT_TTL,
        Some(s) => duration::parse(&s).map_err(|e| {
            invalid(
                "livestream.token_ttl (LATCHKEY_LIVESTREAM_TOKEN_TTL)",
                e.to_string(),
            )
        })?,
    };
    if token_ttl < Duration::from_secs(30) || token_ttl > MAX_TTL {
        return Err(invalid(
            "livestream.token_ttl (LATCHKEY_LIVESTREAM_TOKEN_TTL)",
            "must be between 30s and 15m",
        ));
    }
    Ok(token_ttl)
}

/// Where the development live-events source listens by default, and where the example
/// catalogue's `stream:live-events` points.
pub const DEV_SOURCE_DEFAULT: &str = "127.0.0.1:8011";

/// `gate.dev_source`: on loopback, only in development mode; `127.0.0.1:8011` by default there.
pub(super) fn validate_dev_source(
    g: GateLayer,
    dev: bool,
) -> Result<Option<SocketAddr>, ConfigError> {
    const SETTING: &str = "gate.dev_source (LATCHKEY_GATE_DEV_SOURCE)";
    let addr = match g.dev_source.as_deref() {
        Some("off") => return Ok(None),
        None if dev => DEV_SOURCE_DEFAULT,
        None => return Ok(None),
        Some(_) if !dev => {
            return Err(invalid(
                SETTING,
                "the live-events source runs only in development mode (`latchkey serve --dev`)",
            ))
        }
        Some(a) => a,
    };
    let addr: SocketAddr = addr.parse().map_err(|_| {
        invalid(
            SETTING,
            "not a socket address; write e.g. 127.0.0.1:8011, or off",
        )
    })?;
    if !addr.ip().is_loopback() {
        return Err(invalid(SETTING, "must be a loopback address"));
    }
    Ok(Some(addr))
}

/// `gate.cutoff_after` when unset.
pub const CUTOFF_AFTER_DEFAULT: Duration = Duration::from_secs(5);

/// `gate.cutoff_after`: [`CUTOFF_AFTER_DEFAULT`] by default, from 2s (the listener's
/// heartbeat and the poll must be able to speak within it) to 5m.
pub(super) fn validate_cutoff_after(v: Option<&str>) -> Result<Duration, ConfigError> {
    const SETTING: &str = "gate.cutoff_after (LATCHKEY_GATE_CUTOFF_AFTER)";
    let Some(v) = v else {
        return Ok(CUTOFF_AFTER_DEFAULT);
    };
    let d = duration::parse(v).map_err(|e| invalid(SETTING, e.to_string()))?;
    if d < Duration::from_secs(2) || d > Duration::from_secs(300) {
        return Err(invalid(SETTING, "must be between 2s and 5m"));
    }
    Ok(d)
}

/// `development.postgres`: in development mode, the loopback server's superuser by
/// default; never outside it.
pub(super) fn validate_dev_postgres(
    d: DevelopmentLayer,
    dev: bool,
) -> Result<Option<crate::model::secret::Secret>, ConfigError> {
    const SETTING: &str = "development.postgres (LATCHKEY_DEVELOPMENT_POSTGRES)";
    let dsn =
        match d.postgres.as_deref() {
            Some("off") => return Ok(None),
            None if dev => "postgres://postgres@127.0.0.1:5432/postgres",
            None => return Ok(None),
            Some(_) if !dev => return Err(invalid(
                SETTING,
                "only a development server (`latchkey serve --dev`) makes its example databases",
            )),
            Some(d) => d,
        };
    let url =
        url::Url::parse(dsn).map_err(|_| invalid(SETTING, "not a postgres:// URL, or off"))?;
    // postgres:// is not a scheme the URL standard knows: its host is read as text.
    let loopback = url.host_str().is_some_and(|h| {
        h == "localhost"
            || h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback())
    });
    if !matches!(url.scheme(), "postgres" | "postgresql") || !loopback {
        return Err(invalid(
            SETTING,
            "must be a postgres:// URL of a loopback server, or off",
        ));
    }
    Ok(Some(crate::model::secret::Secret::new(dsn)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::secret::Secret;

    fn err(l: LivestreamLayer) -> String {
        validate_livestream(l).unwrap_err().to_string()
    }

    #[test]
    fn livestream_settings_name_what_is_missing_or_wrong() {
        assert!(validate_livestream(LivestreamLayer::default())
            .unwrap()
            .is_none());
        let base = LivestreamLayer {
            secret: Some(Secret::new("s")),
            api_token: Some("phc_x".into()),
            ..LivestreamLayer::default()
        };
        let ok = validate_livestream(base.clone()).unwrap().unwrap();
        assert_eq!(ok.token_ttl, DEFAULT_TTL);
        let e = err(LivestreamLayer {
            api_token: Some("phc_x".into()),
            ..LivestreamLayer::default()
        });
        assert!(e.contains("LATCHKEY_LIVESTREAM_SECRET"), "{e}");
        let e = err(LivestreamLayer {
            api_token: None,
            ..base.clone()
        });
        assert!(e.contains("LATCHKEY_LIVESTREAM_API_TOKEN"), "{e}");
        let e = err(LivestreamLayer {
            organization_id: Some("org-1".into()),
            ..base.clone()
        });
        assert!(e.contains("not a UUID"), "{e}");
        let e = err(LivestreamLayer {
            token_ttl: Some("2h".into()),
            ..base.clone()
        });
        assert!(e.contains("15m"), "{e}");
        let e = err(LivestreamLayer {
            user_ids: Some([("a@example.com".to_string(), 0)].into()),
            ..base
        });
        assert!(e.contains("positive"), "{e}");
    }

    #[test]
    fn the_dev_source_runs_on_loopback_in_development_mode_only() {
        let g = |v: Option<&str>| GateLayer {
            dev_source: v.map(Into::into),
            ..GateLayer::default()
        };
        assert_eq!(
            validate_dev_source(g(None), true).unwrap(),
            Some("127.0.0.1:8011".parse().unwrap())
        );
        assert_eq!(validate_dev_source(g(None), false).unwrap(), None);
        assert_eq!(validate_dev_source(g(Some("off")), true).unwrap(), None);
        assert!(validate_dev_source(g(Some("127.0.0.1:9")), false).is_err());
        assert!(validate_dev_source(g(Some("0.0.0.0:9")), true).is_err());
    }

    #[test]
    fn the_cutoff_defaults_to_five_seconds_and_stays_between_two_seconds_and_five_minutes() {
        assert_eq!(validate_cutoff_after(None).unwrap(), CUTOFF_AFTER_DEFAULT);
        assert_eq!(
            validate_cutoff_after(Some("3s")).unwrap(),
            Duration::from_secs(3)
        );
        for bad in ["1s", "6m", "soon"] {
            let e = validate_cutoff_after(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("gate.cutoff_after"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_development_postgres_is_loopback_and_development_only() {
        let d = |v: Option<&str>| DevelopmentLayer {
            postgres: v.map(String::from),
        };
        let dsn = |v: Option<&str>, dev| {
            validate_dev_postgres(d(v), dev).map(|s| s.map(|s| s.expose().to_string()))
        };
        assert_eq!(
            dsn(None, true).unwrap().as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/postgres")
        );
        assert_eq!(dsn(None, false).unwrap(), None);
        assert_eq!(dsn(Some("off"), true).unwrap(), None);
        assert!(dsn(Some("postgres://postgres@localhost/postgres"), true).is_ok());
        assert!(dsn(Some("postgres://postgres@[::1]:5433/postgres"), true).is_ok());
        assert!(dsn(Some("postgres://postgres@db.example.com/postgres"), true).is_err());
        assert!(dsn(Some("postgres://postgres@127.0.0.1/postgres"), false).is_err());
    }
}
