//! What a drill counted, as Markdown for RELIABILITY.md, and the list of violations (any
//! makes the drill fail).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::DrillConfig;
use super::faults::FaultOutcome;
use super::load::Tally;
use super::verify::{EventCounts, OutboxCounts, ProfileCounts};

#[derive(Debug, Clone)]
pub struct Report {
    pub config: DrillConfig,
    pub mariadb_port: u16,
    pub load_took: Duration,
    pub tally: Tally,
    pub faults: Vec<FaultOutcome>,
    pub events: EventCounts,
    pub outbox: OutboxCounts,
    pub profiles: ProfileCounts,
    pub warnings: Vec<String>,
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn opt_secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "n/a".to_owned(), secs)
}

impl Report {
    /// Every broken promise, in words; empty when the drill passed.
    pub fn violations(&self) -> Vec<String> {
        let (e, o, p, t) = (&self.events, &self.outbox, &self.profiles, &self.tally);
        let mut v = Vec::new();
        let mut check = |bad: bool, what: String| {
            if bad {
                v.push(what);
            }
        };
        check(
            e.lost > 0,
            format!("{} acknowledged events lost, e.g. {:?}", e.lost, e.lost_ids),
        );
        check(
            e.duplicate_rows > 0,
            format!("{} duplicated event rows", e.duplicate_rows),
        );
        check(
            e.rows != e.distinct_ids,
            format!("{} rows for {} distinct ids", e.rows, e.distinct_ids),
        );
        check(
            e.misattributed > 0,
            format!("{} events stored for another customer", e.misattributed),
        );
        check(
            e.unexpected_rows > 0,
            format!("{} rows of events never sent", e.unexpected_rows),
        );
        check(
            !t.unacknowledged.is_empty(),
            format!(
                "{} calls never acknowledged: {:?}",
                t.unacknowledged.len(),
                t.unacknowledged
            ),
        );
        check(
            !t.miscounted_calls.is_empty(),
            format!(
                "acknowledgements not accounting for every event: {:?}",
                t.miscounted_calls
            ),
        );
        check(
            e.acknowledged != e.planned,
            format!("{} of {} events acknowledged", e.acknowledged, e.planned),
        );
        check(
            e.rows != e.planned as i64,
            format!("{} rows stored for {} events sent", e.rows, e.planned),
        );
        check(
            e.order_rows != e.order_events,
            format!(
                "{} orders stored for {} order events",
                e.order_rows, e.order_events
            ),
        );
        check(
            o.consumer_offset < o.max_seq,
            format!(
                "outbox not consumed: offset {} of {}",
                o.consumer_offset, o.max_seq
            ),
        );
        check(
            o.unlisted > 0,
            format!("{} stored events in no outbox row", o.unlisted),
        );
        check(
            o.repeated > 0,
            format!("{} events listed in the outbox more than once", o.repeated),
        );
        check(
            o.entries != e.rows as u64,
            format!("outbox lists {} events, {} stored", o.entries, e.rows),
        );
        check(
            p.stale_count > 0,
            format!(
                "{} of {} profiles missing or behind, e.g. {:?}",
                p.stale_count, p.customers, p.stale
            ),
        );
        for f in self.faults.iter().filter(|f| f.taken_early()) {
            v.push(format!("the lease changed hands before it expired: {f:?}"));
        }
        v
    }

    /// The figures as Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = self.write_summary(&mut s);
        let _ = self.write_faults(&mut s);
        let _ = self.write_warnings(&mut s);
        s
    }

    fn write_summary(&self, s: &mut String) -> std::fmt::Result {
        let (c, e, o, p, t) = (
            &self.config,
            &self.events,
            &self.outbox,
            &self.profiles,
            &self.tally,
        );
        writeln!(
            s,
            "{} events with caller ids over {} concurrent streams ({} events per call, {} per message) at {}, {} customers; {} fault rounds; lease {} s, outbox gap grace {} s; private MariaDB on port {}\n",
            c.load.events,
            c.load.streams,
            c.load.call_events,
            c.load.batch,
            c.load
                .rate
                .map_or("full speed".to_owned(), |r| format!("{r} events/s")),
            c.load.customers,
            c.fault_rounds,
            c.tuning.lease_seconds,
            c.tuning.gap_grace_seconds,
            self.mariadb_port
        )?;
        writeln!(s, "| count | value |\n|---|---|")?;
        let failures: Vec<String> = t.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let rows = [
            ("events sent", e.planned.to_string()),
            ("events acknowledged", e.acknowledged.to_string()),
            ("**acknowledged events lost**", format!("**{}**", e.lost)),
            (
                "**event rows duplicated**",
                format!("**{}**", e.duplicate_rows),
            ),
            (
                "event rows / distinct ids",
                format!("{} / {}", e.rows, e.distinct_ids),
            ),
            (
                "events stored for the wrong customer",
                e.misattributed.to_string(),
            ),
            (
                "calls acknowledged / attempts",
                format!("{} / {}", t.calls, t.attempts),
            ),
            (
                "failed attempts (re-sent whole)",
                if failures.is_empty() {
                    "none".to_owned()
                } else {
                    failures.join(", ")
                },
            ),
            (
                "answers: accepted / duplicate (stored by a failed attempt) / rejected",
                format!("{} / {} / {}", t.accepted, t.duplicates, t.rejected),
            ),
            (
                "order rows / order events",
                format!("{} / {}", e.order_rows, e.order_events),
            ),
            (
                "outbox rows / events listed",
                format!("{} / {}", o.rows, o.entries),
            ),
            (
                "stored events unlisted / listed twice",
                format!("{} / {}", o.unlisted, o.repeated),
            ),
            (
                "**consumer offset / newest outbox seq**",
                format!("**{} / {}**", o.consumer_offset, o.max_seq),
            ),
            (
                "consumer offset / newest outbox seq at the last acknowledgement",
                format!("{} / {}", o.at_load_end.0, o.at_load_end.1),
            ),
            (
                "profiles caught up after the last acknowledgement",
                opt_secs(o.caught_up_after),
            ),
            (
                "**customers / profiles current** (event and order counts equal to what was sent)",
                format!("**{} / {}**", p.customers, p.current),
            ),
            (
                "load duration (first call to last acknowledgement)",
                secs(self.load_took),
            ),
        ];
        for (k, v) in rows {
            writeln!(s, "| {k} | {v} |")?;
        }
        Ok(())
    }

    fn write_faults(&self, s: &mut String) -> std::fmt::Result {
        writeln!(
            s,
            "\n| # | fault | at events acknowledged | calls in flight | back after | events stored again after | calls acknowledged again after | |\n|---|---|---|---|---|---|---|---|"
        )?;
        for (i, f) in self.faults.iter().enumerate() {
            writeln!(
                s,
                "| {} | {} (pid {}) | {} | {} | {} | {} | {} | {} |",
                i + 1,
                f.kind.label(),
                f.killed_pid,
                f.at_acked,
                f.in_flight,
                secs(f.back_after),
                opt_secs(f.stored_after),
                opt_secs(f.ingest_after),
                f.detail
            )?;
        }
        Ok(())
    }

    /// Warnings the services logged, counted by message.
    fn write_warnings(&self, s: &mut String) -> std::fmt::Result {
        let mut by_message: BTreeMap<String, usize> = BTreeMap::new();
        for line in &self.warnings {
            *by_message.entry(log_message(line)).or_default() += 1;
        }
        writeln!(
            s,
            "\nwarnings and errors logged by the services: {}",
            self.warnings.len()
        )?;
        let mut counted: Vec<(String, usize)> = by_message.into_iter().collect();
        counted.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        for (message, n) in counted.iter().take(10) {
            writeln!(s, "- {n} x {message}")?;
        }
        Ok(())
    }
}

/// A JSON log line's level and message (the line itself if it is not JSON).
fn log_message(line: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_owned();
    };
    let level = value.get("level").and_then(|l| l.as_str()).unwrap_or("?");
    let target = value.get("target").and_then(|l| l.as_str()).unwrap_or("?");
    let message = value
        .pointer("/fields/message")
        .and_then(|m| m.as_str())
        .unwrap_or("?");
    format!("{level} {target}: {message}")
}
