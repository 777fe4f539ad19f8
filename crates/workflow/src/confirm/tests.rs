//! The customer's pages: every refusal is a page and writes nothing; a good answer becomes
//! the command.

use chrono::Duration;
use closeloop_domain::notice::NoticeKind;

use super::{answer, answered, question};
use crate::env::Env;
use crate::fold::change::tests::{act, customer_message, opened, resolve};
use crate::fold::tests::{App, context};
use crate::fold::{Command, Verdict};

/// A resolved case's confirmation token.
fn token(app: &App) -> String {
    let id = opened(app, "k-1");
    act(app, &id, resolve("Dana"));
    let notice = customer_message(app, &id, NoticeKind::CustomerFollowUp).unwrap();
    notice.link.unwrap().rsplit('/').next().unwrap().to_owned()
}

#[test]
fn the_question_and_its_refusals_are_pages_that_write_nothing() {
    let app = App::new();
    let token = token(&app);
    let ctx = context();
    let (store, now) = (app.store.as_ref(), app.env.now());
    let writes = app.store.writes();
    let page = question(store, &ctx, &token, now).unwrap();
    assert_eq!(page.status, 200);
    assert!(page.html.contains("moved the guest to a quiet room"));
    assert!(page.html.contains(&format!("/v1/confirm/{token}")));
    assert!(
        page.html.contains("recommend us"),
        "the score question on the original scale"
    );

    let mut tampered = token.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(question(store, &ctx, &tampered, now).unwrap().status, 400);
    assert_eq!(
        question(store, &ctx, "not-a-token", now).unwrap().status,
        400
    );
    let later = now + Duration::hours(ctx.link_ttl_hours);
    let expired = question(store, &ctx, &token, later).unwrap();
    assert_eq!(expired.status, 410);
    assert!(expired.html.contains("expired"));

    let refused =
        |form: Option<&[u8]>| answer(store, &ctx, &token, form, now).unwrap().unwrap_err();
    assert_eq!(refused(None).status, 415);
    let p = refused(Some(b"score=8"));
    assert!(
        (p.status, p.html.contains("Please choose whether")) == (400, true),
        "{}",
        p.html
    );
    let p = refused(Some(b"resolved=yes&score=11"));
    assert!(p.html.contains("one of the numbers shown"), "{}", p.html);
    assert_eq!(app.store.writes(), writes, "nothing written");

    let mut no_key = context();
    no_key.link_key = None;
    assert_eq!(
        question(store, &no_key, &token, now).unwrap_err().status(),
        500
    );
}

#[test]
fn a_good_answer_is_a_command_and_its_verdict_a_page() {
    let app = App::new();
    let token = token(&app);
    let ctx = context();
    let (store, now) = (app.store.as_ref(), app.env.now());
    let command = answer(
        store,
        &ctx,
        &token,
        Some(b"resolved=no&score=6&comment=still+noisy"),
        now,
    )
    .unwrap()
    .unwrap();
    let Command::CustomerAnswer {
        answer: a, round, ..
    } = &command
    else {
        panic!("{command:?}")
    };
    assert_eq!((a.resolved, a.score.unwrap().value, round), (false, 6, &1));
    assert_eq!(a.comment.as_deref(), Some("still noisy"));
    let verdict = app.submit(command.clone()).verdict;
    assert!(matches!(verdict, Verdict::CaseChanged { .. }));
    let page = answered(&verdict).unwrap();
    assert_eq!(page.status, 200);
    assert!(page.html.contains("We are on it"));
    // Used: refused as such before any ticket, and by the fold if one raced past the check.
    let used = answer(store, &ctx, &token, Some(b"resolved=yes"), now)
        .unwrap()
        .unwrap_err();
    assert_eq!(used.status, 410);
    assert!(used.html.contains("already been used"));
    assert!(
        question(store, &ctx, &token, now)
            .unwrap()
            .html
            .contains("already been used")
    );
    let raced = answered(&app.submit(command).verdict).unwrap();
    assert_eq!(raced, used);
}
