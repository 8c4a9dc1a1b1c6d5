//! Intent parity, shortened: 6 minutes with the cart refusing connections for 90 s from
//! 1m. A plain error loses every add-to-cart of the blip. An outbox that answers
//! "pending" and replays with a back-off longer than the blip delivers every intent it
//! captured. An outbox that gives up after 3 replays 1 s apart dead-letters nearly all of
//! them: the users were told "added", and the intents are lost all the same.

use super::run_experiment;
use cascade::sim::RunReport;
use cascade::sim::metrics::ClientMetrics;

const SET: [&str; 1] = ["faults.0.at=1m"];

fn outbox(r: &RunReport) -> &ClientMetrics {
    r.metrics
        .clients
        .iter()
        .find(|c| c.name == "web→cart")
        .unwrap()
}

#[test]
fn outbox_keeps_every_intent_of_a_blip_and_an_impatient_outbox_breaks_its_promise() {
    let o = run_experiment("intent_parity.toml", 1, Some("6m"), &SET);
    let blip = 150.0 * 90.0;
    let m = |v: &str, k: &str| o.mean(v, k);
    println!(
        "lost: plain {} outbox {} gives-up {}; pending: outbox {} gives-up {}; dead-lettered: outbox {} gives-up {}",
        m("plain-error", "lost"),
        m("outbox", "lost"),
        m("outbox-gives-up", "lost"),
        m("outbox", "pending"),
        m("outbox-gives-up", "pending"),
        m("outbox", "dead_lettered"),
        m("outbox-gives-up", "dead_lettered")
    );

    // Plain error: the blip's intents are lost (the refresh 2 s later is still inside it).
    let lost_plain = m("plain-error", "lost");
    assert!(
        lost_plain > 0.9 * blip,
        "plain error loses the blip's intents: {lost_plain} of ~{blip}"
    );
    assert_eq!(m("plain-error", "pending"), 0.0);

    // Outbox: every intent of the blip answered "pending", every one delivered.
    let pending = m("outbox", "pending");
    assert!(
        pending > 0.9 * blip,
        "outbox captures the blip's intents: {pending} of ~{blip}"
    );
    assert_eq!(m("outbox", "lost"), 0.0, "outbox loses nothing");
    assert_eq!(
        m("outbox", "dead_lettered"),
        0.0,
        "outbox dead-letters nothing"
    );
    let r = o.report("outbox");
    let c = outbox(&r);
    assert!(
        c.captured > 0 && c.delivered == c.captured && c.dead_lettered == 0,
        "intent parity: captured {} = delivered {} (dead-lettered {})",
        c.captured,
        c.delivered,
        c.dead_lettered
    );

    // Gives up too early: the same "pending" answers, then dead letters.
    let (pending_g, dead_g, lost_g) = (
        m("outbox-gives-up", "pending"),
        m("outbox-gives-up", "dead_lettered"),
        m("outbox-gives-up", "lost"),
    );
    assert!(
        (pending_g - pending).abs() <= 0.01 * pending,
        "users hear the same promise: pending {pending_g} vs {pending}"
    );
    assert!(
        dead_g > 0.9 * pending_g,
        "three replays a second apart cannot outlast a 90 s blip: {dead_g} of {pending_g} dead-lettered"
    );
    assert_eq!(
        lost_g, dead_g,
        "every lost intent is a dead-lettered promise"
    );
    assert!(
        (lost_g - lost_plain).abs() <= 0.05 * lost_plain,
        "it loses as much as the plain error ({lost_g} vs {lost_plain}), having said \"added\""
    );
    assert_eq!(
        m("outbox-gives-up", "failed"),
        0.0,
        "and no user saw an error"
    );
    let r = o.report("outbox-gives-up");
    let c = outbox(&r);
    assert_eq!(
        c.captured,
        c.delivered + c.dead_lettered,
        "every captured intent is accounted for"
    );
    assert!(
        c.delivered > 0 && (c.delivered as f64) < 0.05 * c.captured as f64,
        "only intents captured in the blip's last seconds survive: {} of {}",
        c.delivered,
        c.captured
    );
}
