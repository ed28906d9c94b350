//! `ticketgate documents push <manifest>`: trusted documents from a client's manifest.

use crate::app::StartupError;
use crate::config::{DocumentsPushArgs, GlobalOptions};
use crate::db;
use crate::graphql::{manifest, trusted};

use super::open;

pub fn push(global: &GlobalOptions, args: &DocumentsPushArgs) -> Result<(), StartupError> {
    let path = args.manifest.display();
    let text = std::fs::read_to_string(&args.manifest)
        .map_err(|err| StartupError::Invalid(format!("{path}: {err}")))?;
    let documents = manifest::parse(&text)
        .map_err(|why| StartupError::Invalid(format!("{path}: nothing pushed: {why}")))?;
    let database = open(global)?;
    crate::app::migrate(&database.url)?;
    let mut conn = db::connect(&database.url)?;
    let pushed = trusted::push(&mut conn, &documents, args.client_name.as_deref()).map_err(
        |err| match err {
            trusted::PushError::Db(err) => StartupError::from(err),
            changed => StartupError::Invalid(format!("{path}: nothing pushed: {changed}")),
        },
    )?;
    eprintln!(
        "pushed {} trusted documents from {path}: {} new, {} already there",
        documents.len(),
        pushed.added,
        pushed.unchanged
    );
    Ok(())
}
