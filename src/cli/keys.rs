//! `ticketgate api-key …` and `ticketgate customer-token …`.

use chrono::{Duration, Utc};

use crate::app::StartupError;
use crate::auth::api_keys;
use crate::auth::customer_tokens::MAX_TTL_SECONDS;
use crate::auth::viewer::Scope;
use crate::config::{
    ApiKeyCreateArgs, ApiKeyRevokeArgs, CustomerTokenArgs, GlobalOptions, TeamArg,
};
use crate::teams::Team;
use crate::{db, teams, users};

use super::{open, token_secret};

fn team(conn: &mut diesel::PgConnection, slug: &str) -> Result<Team, StartupError> {
    teams::queries::find_by_slug(conn, slug)?
        .ok_or_else(|| StartupError::Invalid(format!("no team `{slug}`")))
}

pub fn create_api_key(global: &GlobalOptions, args: &ApiKeyCreateArgs) -> Result<(), StartupError> {
    let database = open(global)?;
    crate::app::migrate(&database.url)?;
    let mut conn = db::connect(&database.url)?;
    let team = team(&mut conn, &args.team)?;
    let user_id = match &args.user {
        None => None,
        Some(email) => Some(
            users::queries::find_in_team_organization(&mut conn, team.id, email)?
                .ok_or_else(|| {
                    StartupError::Invalid(format!(
                        "no user `{email}` in the organisation of team `{}`",
                        args.team
                    ))
                })?
                .id,
        ),
    };
    let scopes: &[Scope] = if args.read_only {
        &[Scope::Read]
    } else {
        &[Scope::Read, Scope::Write]
    };
    let (_, key) = api_keys::create(&mut conn, team.id, user_id, &args.name, scopes)?;
    println!("{key}");
    Ok(())
}

/// One line per key: id, prefix, scopes, name, created, last used, revoked.
pub fn list_api_keys(global: &GlobalOptions, args: &TeamArg) -> Result<(), StartupError> {
    let database = open(global)?;
    crate::app::migrate(&database.url)?;
    let mut conn = db::connect(&database.url)?;
    let team = team(&mut conn, &args.team)?;
    println!("id\tprefix\tscopes\tname\tcreated\tlast used\trevoked");
    for key in api_keys::list_for_team(&mut conn, team.id)? {
        let when = |t: Option<chrono::DateTime<Utc>>| t.map_or("-".to_string(), |t| t.to_rfc3339());
        println!(
            "{}\t{}…\t{}\t{}\t{}\t{}\t{}",
            key.id,
            key.key_prefix,
            key.scopes.join(","),
            key.name,
            key.created_at.to_rfc3339(),
            when(key.last_used_at),
            when(key.revoked_at),
        );
    }
    Ok(())
}

pub fn revoke_api_key(global: &GlobalOptions, args: &ApiKeyRevokeArgs) -> Result<(), StartupError> {
    let database = open(global)?;
    crate::app::migrate(&database.url)?;
    let mut conn = db::connect(&database.url)?;
    let team = team(&mut conn, &args.team)?;
    let revoked = api_keys::revoke(&mut conn, team.id, &args.key)?;
    match revoked {
        // Never echo what was given: it may be a whole key.
        0 => Err(StartupError::Invalid(format!(
            "no live key of team `{}` has that id or prefix",
            args.team
        ))),
        1 => {
            eprintln!("revoked");
            Ok(())
        }
        n => Err(StartupError::Invalid(format!(
            "that prefix matches {n} keys: give the key's id"
        ))),
    }
}

pub fn create_customer_token(
    global: &GlobalOptions,
    args: &CustomerTokenArgs,
) -> Result<(), StartupError> {
    if !(1..=MAX_TTL_SECONDS).contains(&args.ttl_seconds) {
        return Err(StartupError::Invalid(format!(
            "--ttl-seconds must be between 1 and {MAX_TTL_SECONDS}"
        )));
    }
    let database = open(global)?;
    crate::app::migrate(&database.url)?;
    let secret = token_secret(global, &database)?.ok_or_else(|| {
        StartupError::Invalid(
            "customer tokens need TICKETGATE_TOKEN_SECRET (at least 32 bytes, the same on every replica)".into(),
        )
    })?;
    let mut conn = db::connect(&database.url)?;
    let team = team(&mut conn, &args.team)?;
    let expires_at = Utc::now() + Duration::seconds(args.ttl_seconds);
    let token = secret
        .issue(team.id, &args.distinct_id, expires_at)
        .map_err(|err| StartupError::Invalid(format!("--distinct-id: {err}")))?;
    println!("{token}");
    Ok(())
}
