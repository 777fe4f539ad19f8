//! Daily digests: the alerts a recipient should not get one by one (routed to the digest, or
//! past their hourly limit) wait in their digest queue ([`super::notices`] fills it) and go
//! out together once a day, at the first tick after the digest hour in the recipient's time
//! zone.
//!
//! The digest notice's id derives from the recipient and their local day, and the fold is
//! its only writer, so a recipient gets one digest per local day however many ticks race;
//! alerts queued after it wait for the next day. Making the digest empties the queue, and
//! each of its cases lists the digest's deliveries (their timelines show them).

use closeloop_domain::Timestamp;
use closeloop_domain::delivery::Target;
use closeloop_domain::dispatch::directory::{DEFAULT_DIGEST_HOUR, Team};
use closeloop_domain::dispatch::{fatigue, store as dispatch_store};
use closeloop_domain::keys;
use closeloop_domain::notice::Notice;

use super::records::{self, CaseFile, DIGEST_TARGETS, DigestQueue, DigestTargets};
use super::{Folder, Verdict, notices};
use crate::store::StoreError;

/// The local day whose digest `target` gets at `now`: today in their time zone, once the
/// digest hour has passed there.
pub fn day_due(target: &Target, team: Option<&Team>, now: Timestamp) -> Option<chrono::NaiveDate> {
    let tz = match (target, team) {
        (Target::Member { member, .. }, Some(team)) => {
            team.member(member).map_or(chrono_tz::UTC, |m| m.tz())
        }
        _ => chrono_tz::UTC,
    };
    fatigue::digest_day(now, tz, DEFAULT_DIGEST_HOUR)
}

/// The id of `target`'s digest for local day `day`.
pub fn notice_id(target: &Target, day: chrono::NaiveDate) -> String {
    Notice::digest(target, day, Vec::new(), Timestamp::UNIX_EPOCH).id
}

pub fn send(f: &mut Folder<'_, '_>) -> Result<Verdict, StoreError> {
    let mut targets: DigestTargets = f.tx.get(DIGEST_TARGETS)?.unwrap_or_default();
    let mut written = Vec::new();
    let mut emptied: Vec<Target> = Vec::new();
    for target in &targets.targets {
        let key = records::digest_queue(target);
        let queue: DigestQueue = f.tx.get(&key)?.unwrap_or_default();
        if queue.entries.is_empty() {
            emptied.push(target.clone());
            continue;
        }
        let team: Option<Team> = match dispatch_store::target_team(target) {
            Some(k) => f.tx.get(&k)?,
            None => None,
        };
        let Some(day) = day_due(target, team.as_ref(), f.now) else {
            continue;
        };
        let mut cases: Vec<String> = queue.entries.iter().map(|e| e.case_id.clone()).collect();
        cases.sort();
        cases.dedup();
        let notice = Notice::digest(target, day, cases, f.now);
        if f.tx.get::<Notice>(&keys::notice(&notice.id))?.is_some() {
            continue;
        }
        let deliveries = notices::queue(f, &notice, None, None, None)?;
        for case_id in &notice.cases {
            let file_key = records::case_file(case_id);
            let mut file: CaseFile =
                f.tx.get(&file_key)?
                    .unwrap_or_else(|| CaseFile::new(case_id));
            file.notices.push(notice.id.clone());
            file.deliveries.extend(deliveries.iter().cloned());
            f.tx.put(file_key, &file);
        }
        f.tx.put(
            key,
            &DigestQueue {
                target: Some(target.clone()),
                entries: Vec::new(),
            },
        );
        emptied.push(target.clone());
        written.push(notice.id);
    }
    if !emptied.is_empty() {
        targets.targets.retain(|t| !emptied.contains(t));
        f.tx.put(DIGEST_TARGETS, &targets);
    }
    Ok(Verdict::Digested { notices: written })
}
