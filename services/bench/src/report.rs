//! The figures, three ways: a table on the terminal, a JSON file for
//! scripts, and BENCHMARKS.md with one chart (SVG) for people.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::costs::Cost;
use crate::load::Figure;
use crate::scenarios::{Bulk, CreateLeadFigure, SpeedToLead};
use crate::sticky::StickyFigures;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub postgres: String,
    pub redis: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or("unknown".into(), |s| s.trim().to_owned());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
        let run = |cmd: &str, args: &[&str]| {
            std::process::Command::new(cmd)
                .args(args)
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_else(|| "unknown".into())
        };
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib,
            kernel: run("uname", &["-sr"]),
            postgres: run(
                "psql",
                &[
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-Atc",
                    "SHOW server_version",
                ],
            ),
            redis: run("redis-cli", &["INFO", "server"])
                .lines()
                .find_map(|l| l.strip_prefix("redis_version:"))
                .unwrap_or("unknown")
                .trim()
                .to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    pub service: String,
    pub idle_rss_mib: f64,
    pub start_to_serving_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub what: String,
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub date: String,
    pub machine: Machine,
    pub seconds_per_point: u64,
    pub callers: Vec<usize>,
    /// Every failed call of the run; a run with errors says so first.
    pub errors: usize,
    pub route_lead_round_robin: Vec<Figure>,
    pub route_lead_balanced: Vec<Figure>,
    /// RouteLead with weights, caps and working hours all on (none holding).
    #[serde(default)]
    pub route_lead_fair: Vec<Figure>,
    pub limit_redis_evalsha: Vec<Figure>,
    pub limit_postgres_row_lock: Vec<Figure>,
    pub limit_pgbench_insert: Vec<Figure>,
    pub create_lead: Vec<CreateLeadFigure>,
    /// Speed-to-lead at half the best CreateLead rate (the headline figure).
    pub speed_to_lead: SpeedToLead,
    /// Speed-to-lead at 10%, 25%, 50% and 75% of the best CreateLead rate:
    /// the latency-versus-load curve.
    #[serde(default)]
    pub speed_curve: Vec<SpeedToLead>,
    pub bulk: Bulk,
    /// CreateLead with sticky ownership over 100,000 existing leads.
    #[serde(default)]
    pub create_lead_sticky: StickyFigures,
    pub footprint: Vec<Footprint>,
    pub targets: Vec<Target>,
}

fn at(figures: &[Figure], callers: usize) -> Option<&Figure> {
    figures.iter().find(|f| f.callers == callers)
}

impl Results {
    pub fn count_errors(&mut self) {
        let figures = self
            .route_lead_round_robin
            .iter()
            .chain(&self.route_lead_balanced)
            .chain(&self.route_lead_fair)
            .chain(&self.limit_postgres_row_lock)
            .chain(&self.limit_pgbench_insert)
            .chain(self.create_lead.iter().map(|c| &c.calls))
            .chain(
                self.create_lead_sticky
                    .points
                    .iter()
                    .flat_map(|p| [&p.plain, &p.new_contact, &p.returning_contact]),
            );
        self.errors = figures.map(|f| f.errors).sum::<usize>()
            + self.speed_to_lead.errors
            + self.speed_curve.iter().map(|s| s.errors).sum::<usize>()
            + usize::from(self.bulk.error.is_some());
    }

    /// The targets, each with what was measured.
    pub fn judge(&mut self) {
        let top = self.callers.iter().copied().max().unwrap_or(1);
        let mut targets = Vec::new();
        let ratio = |a: Option<&Figure>, b: Option<&Figure>| match (a, b) {
            (Some(a), Some(b)) if b.per_second > 0.0 => a.per_second / b.per_second,
            _ => 0.0,
        };
        let rr = at(&self.route_lead_round_robin, top);
        let x_pg = ratio(rr, at(&self.limit_postgres_row_lock, top));
        targets.push(Target {
            what: format!("RouteLead at {top} callers vs Postgres row-lock round robin"),
            goal: "≥ 30×".into(),
            measured: format!("{x_pg:.1}×"),
            met: x_pg >= 30.0,
        });
        let of_plain = ratio(at(&self.route_lead_fair, top), rr);
        targets.push(Target {
            what: format!(
                "RouteLead at {top} callers with weights, caps and working hours vs plain round robin"
            ),
            goal: "≥ 90%".into(),
            measured: format!("{:.0}%", of_plain * 100.0),
            met: of_plain >= 0.9,
        });
        let of_redis = ratio(rr, at(&self.limit_redis_evalsha, top));
        targets.push(Target {
            what: format!("RouteLead at {top} callers vs raw EVALSHA"),
            goal: "≥ 40%".into(),
            measured: format!("{:.0}%", of_redis * 100.0),
            met: of_redis >= 0.4,
        });
        let best_create = self
            .create_lead
            .iter()
            .map(|c| c.end_to_end_per_second)
            .fold(0.0, f64::max);
        let best_insert = self
            .limit_pgbench_insert
            .iter()
            .map(|f| f.per_second)
            .fold(0.0, f64::max);
        let of_pg = if best_insert > 0.0 {
            best_create / best_insert
        } else {
            0.0
        };
        let costliest = self
            .create_lead
            .iter()
            .max_by(|a, b| a.end_to_end_per_second.total_cmp(&b.end_to_end_per_second))
            .map(|c| c.cost)
            .unwrap_or_default();
        targets.push(Target {
            what: "CreateLead end to end vs pgbench INSERT (best of each)".into(),
            goal: "≥ 50%".into(),
            measured: format!(
                "{:.0}% ({:.1} write transactions, {:.2} WAL syncs, {:.2} ms CPU per lead)",
                of_pg * 100.0,
                costliest.write_transactions,
                costliest.wal_syncs,
                costliest.cpu_ms(),
            ),
            met: of_pg >= 0.5,
        });
        let unloaded = self.create_lead_sticky.unloaded();
        let added = unloaded.map_or(f64::INFINITY, |p| p.added_p99_ms());
        targets.push(Target {
            what: format!(
                "CreateLead p99 added by sticky ownership over {} leads, at {} caller(s)",
                self.create_lead_sticky.existing_leads,
                unloaded.map_or(0, |p| p.plain.callers)
            ),
            goal: "≤ 5 ms".into(),
            measured: format!("{added:+.2} ms"),
            met: added <= 5.0,
        });
        targets.push(Target {
            what: "Speed-to-lead p99".into(),
            goal: "≤ 20 ms".into(),
            measured: format!("{:.1} ms", self.speed_to_lead.p99_ms),
            met: self.speed_to_lead.p99_ms <= 20.0 && self.speed_to_lead.errors == 0,
        });
        if let Some(high) = self.speed_curve.last() {
            targets.push(Target {
                what: format!(
                    "Speed-to-lead p99 at {:.0} leads/s (the curve's highest load)",
                    high.offered_per_second
                ),
                goal: "≤ 50 ms".into(),
                measured: format!("{:.1} ms", high.p99_ms),
                met: high.p99_ms <= 50.0 && high.errors == 0,
            });
        }
        targets.push(Target {
            what: format!("Bulk assign of {} leads", self.bulk.leads),
            goal: "≤ 2 s".into(),
            measured: format!("{:.2} s", self.bulk.wall_ms / 1e3),
            met: self.bulk.error.is_none() && self.bulk.wall_ms <= 2_000.0,
        });
        for f in &self.footprint {
            targets.push(Target {
                what: format!("{} idle RSS / start to SERVING", f.service),
                goal: "≤ 30 MB / ≤ 1 s".into(),
                measured: format!(
                    "{:.1} MiB / {:.0} ms",
                    f.idle_rss_mib, f.start_to_serving_ms
                ),
                met: f.idle_rss_mib * 1.048_576 <= 30.0 && f.start_to_serving_ms <= 1_000.0,
            });
        }
        self.targets = targets;
    }

    /// What one unit of work cost the machine, leadflow beside its limits.
    fn cost_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n### What one unit of work costs\n\n\
             Read before and after each phase: write transactions (transaction ids taken, across \
             every database), WAL syncs (fsyncs; commits arriving together share one) and CPU \
             time per unit. The load generators' own CPU is not counted on either side.\n"
        );
        let _ = writeln!(
            out,
            "| what | callers | write transactions | WAL syncs | leadflow CPU | Postgres CPU | Redis CPU | all CPU |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let mut row = |what: &str, callers: usize, c: &Cost| {
            let _ = writeln!(
                out,
                "| {what} | {callers} | {:.2} | {:.2} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |",
                c.write_transactions,
                c.wal_syncs,
                c.leadflow_cpu_ms,
                c.postgres_cpu_ms,
                c.redis_cpu_ms,
                c.cpu_ms(),
            );
        };
        for c in &self.create_lead {
            row("CreateLead, end to end", c.calls.callers, &c.cost);
        }
        for f in &self.limit_pgbench_insert {
            if let Some(cost) = &f.cost {
                row("pgbench INSERT", f.callers, cost);
            }
        }
        for f in &self.route_lead_round_robin {
            if let Some(cost) = &f.cost {
                row("RouteLead, round robin", f.callers, cost);
            }
        }
        for f in &self.route_lead_fair {
            if let Some(cost) = &f.cost {
                row("RouteLead, weights + caps + hours", f.callers, cost);
            }
        }
        for f in &self.limit_redis_evalsha {
            if let Some(cost) = &f.cost {
                row("redis-benchmark EVALSHA", f.callers, cost);
            }
        }
    }

    /// The figures as Markdown tables (the terminal shows the same text).
    pub fn tables(&self) -> String {
        let mut out = String::new();
        if self.errors > 0 {
            let _ = writeln!(
                out,
                "**THIS RUN HAD {} ERRORS** (see the error column and the JSON file).\n",
                self.errors
            );
        }
        let _ = writeln!(out, "### Routing: RouteLead beside its limits\n");
        let _ = writeln!(
            out,
            "| callers | RouteLead RR/s | p50 | p99 | RouteLead balanced/s | p50 | p99 | EVALSHA limit/s | p99 | PG row lock/s | p99 | RR ÷ PG | RR ÷ EVALSHA | errors |"
        );
        let _ = writeln!(
            out,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for &n in &self.callers {
            let (rr, bal, redis, pg) = (
                at(&self.route_lead_round_robin, n)
                    .cloned()
                    .unwrap_or_default(),
                at(&self.route_lead_balanced, n)
                    .cloned()
                    .unwrap_or_default(),
                at(&self.limit_redis_evalsha, n)
                    .cloned()
                    .unwrap_or_default(),
                at(&self.limit_postgres_row_lock, n)
                    .cloned()
                    .unwrap_or_default(),
            );
            let _ = writeln!(
                out,
                "| {n} | {:.0} | {:.2} ms | {:.2} ms | {:.0} | {:.2} ms | {:.2} ms | {:.0} | {:.2} ms | {:.0} | {:.1} ms | {:.1}× | {:.0}% | {} |",
                rr.per_second,
                rr.p50_ms,
                rr.p99_ms,
                bal.per_second,
                bal.p50_ms,
                bal.p99_ms,
                redis.per_second,
                redis.p99_ms,
                pg.per_second,
                pg.p99_ms,
                safe_div(rr.per_second, pg.per_second),
                safe_div(rr.per_second, redis.per_second) * 100.0,
                rr.errors + bal.errors + pg.errors,
            );
        }
        let _ = writeln!(
            out,
            "\n### Routing with every fairness control on\n\n\
             Round robin with weights 1 to 7, open and per-day caps checked on every pick \
             (set far above what a run routes, so none holds a lead), and working hours \
             respected with schedules in three zones, beside plain round robin in the same run.\n"
        );
        let _ = writeln!(
            out,
            "| callers | plain RR/s | p99 | weights + caps + hours/s | p50 | p99 | ÷ plain | errors |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|");
        for &n in &self.callers {
            let rr = at(&self.route_lead_round_robin, n)
                .cloned()
                .unwrap_or_default();
            let fair = at(&self.route_lead_fair, n).cloned().unwrap_or_default();
            let _ = writeln!(
                out,
                "| {n} | {:.0} | {:.2} ms | {:.0} | {:.2} ms | {:.2} ms | {:.0}% | {} |",
                rr.per_second,
                rr.p99_ms,
                fair.per_second,
                fair.p50_ms,
                fair.p99_ms,
                safe_div(fair.per_second, rr.per_second) * 100.0,
                fair.errors,
            );
        }
        let _ = writeln!(out, "\n### CreateLead end to end beside durable commits\n");
        let _ = writeln!(
            out,
            "| callers | CreateLead calls/s | p50 | p99 | end to end/s (notification stored) | drain | pgbench INSERT/s | p99 | end to end ÷ INSERT | errors |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for c in &self.create_lead {
            let n = c.calls.callers;
            let pg = at(&self.limit_pgbench_insert, n)
                .cloned()
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {n} | {:.0} | {:.1} ms | {:.1} ms | {:.0} | {:.0} ms | {:.0} | {:.2} ms | {:.0}% | {} |",
                c.calls.per_second,
                c.calls.p50_ms,
                c.calls.p99_ms,
                c.end_to_end_per_second,
                c.drain_ms,
                pg.per_second,
                pg.p99_ms,
                safe_div(c.end_to_end_per_second, pg.per_second) * 100.0,
                c.calls.errors,
            );
        }
        self.cost_table(&mut out);
        let s = &self.speed_to_lead;
        let sticky = &self.create_lead_sticky;
        let _ = writeln!(
            out,
            "\n### CreateLead with sticky ownership\n\n\
             {} open leads seeded ({:.0} s with BatchCreateLeads), sticky ownership on by \
             email and domain; CreateLead for a new contact and for a returning one (answered \
             with their own rep, checked), beside CreateLead in a small organisation with \
             sticky ownership off, in the same phase.\n",
            sticky.existing_leads, sticky.seed_seconds
        );
        let _ = writeln!(
            out,
            "| callers | plain/s | p99 | new contact/s | p99 | returning contact/s | p99 | added to p99 | errors |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for p in &sticky.points {
            let added = p.added_p99_ms();
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.2} ms | {:.0} | {:.2} ms | {:.0} | {:.2} ms | {added:+.2} ms | {} |",
                p.plain.callers,
                p.plain.per_second,
                p.plain.p99_ms,
                p.new_contact.per_second,
                p.new_contact.p99_ms,
                p.returning_contact.per_second,
                p.returning_contact.p99_ms,
                p.plain.errors + p.new_contact.errors + p.returning_contact.errors,
            );
        }
        let _ = writeln!(out, "\n### Speed-to-lead, bulk, footprint\n");
        let _ = writeln!(
            out,
            "Speed-to-lead (CreateLead returned → the assignee's WatchNotifications event), at {:.0} leads/s offered (half the best CreateLead rate), {} leads, every rep watching: **p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms**, errors {}.\n",
            s.offered_per_second, s.leads, s.p50_ms, s.p99_ms, s.max_ms, s.errors
        );
        if !self.speed_curve.is_empty() {
            let _ = writeln!(
                out,
                "Against offered load (the right-hand chart):\n\n\
                 | offered leads/s | leads | p50 | p99 | max | errors |\n\
                 |---:|---:|---:|---:|---:|---:|"
            );
            for point in &self.speed_curve {
                let _ = writeln!(
                    out,
                    "| {:.0} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {} |",
                    point.offered_per_second,
                    point.leads,
                    point.p50_ms,
                    point.p99_ms,
                    point.max_ms,
                    point.errors
                );
            }
            let _ = writeln!(out);
        }
        let b = &self.bulk;
        match &b.error {
            Some(error) => {
                let _ = writeln!(
                    out,
                    "Bulk: AssignLeads of {} leads **failed**: {error}\n",
                    b.leads
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "Bulk: AssignLeads of {} leads chosen by filter: **{:.2} s** wall, {} assigned, {} notification(s) for {} assignee(s) (importing them took {:.2} s).\n",
                    b.leads,
                    b.wall_ms / 1e3,
                    b.assigned,
                    b.notifications,
                    b.assignees,
                    b.import_ms / 1e3
                );
            }
        }
        let _ = writeln!(
            out,
            "| service (own process) | idle RSS | start to SERVING |"
        );
        let _ = writeln!(out, "|---|---:|---:|");
        for f in &self.footprint {
            let _ = writeln!(
                out,
                "| {} | {:.1} MiB | {:.0} ms |",
                f.service, f.idle_rss_mib, f.start_to_serving_ms
            );
        }
        let _ = writeln!(out, "\n### Targets\n");
        let _ = writeln!(out, "| target | goal | measured | met |");
        let _ = writeln!(out, "|---|---|---|---|");
        for t in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.what,
                t.goal,
                t.measured,
                if t.met { "yes" } else { "**no**" }
            );
        }
        out
    }

    pub fn markdown(&self, chart: &str, notes: &str) -> String {
        let m = &self.machine;
        format!(
            "# leadflow benchmarks\n\n\
             Regenerated by `make bench` (do not edit by hand; the notes at the end come from \
             `services/bench/NOTES.md`). Every figure is measured in the same run as the limit \
             it is compared with, because absolute times on a shared machine drift.\n\n\
             - **Date:** {}\n- **Machine:** {} ({} cores), {:.0} GiB, {}; PostgreSQL {}, Redis {}\n\
             - **Setup:** the release `leadflow all` as its own process (production mode, a Postgres \
             database per service, routing state in Redis), the load generator as another process on \
             the same cores; {} s per point; 7 sales reps.\n\n\
             {}\n![throughput and p99 against callers]({chart})\n\n{notes}\n",
            self.date,
            m.cpu,
            m.cores,
            m.memory_gib,
            m.kernel,
            m.postgres,
            m.redis,
            self.seconds_per_point,
            self.tables()
        )
    }

    /// Throughput (left) and p99 (right) against callers, leadflow beside the limits.
    pub fn chart(&self, path: &Path) -> anyhow::Result<()> {
        let series: Vec<Series> = vec![
            (
                "RouteLead RR",
                points(&self.route_lead_round_robin),
                RGBColor(31, 119, 180),
            ),
            (
                "RouteLead balanced",
                points(&self.route_lead_balanced),
                RGBColor(23, 190, 207),
            ),
            (
                "limit: Redis EVALSHA",
                points(&self.limit_redis_evalsha),
                RGBColor(214, 39, 40),
            ),
            (
                "baseline: PG row lock",
                points(&self.limit_postgres_row_lock),
                RGBColor(127, 127, 127),
            ),
            (
                "CreateLead end to end",
                self.create_lead
                    .iter()
                    .map(|c| (c.calls.callers, c.end_to_end_per_second, c.calls.p99_ms))
                    .collect(),
                RGBColor(44, 160, 44),
            ),
            (
                "limit: pgbench INSERT",
                points(&self.limit_pgbench_insert),
                RGBColor(255, 127, 14),
            ),
        ];
        let root = SVGBackend::new(path, (1650, 460)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, rest) = root.split_horizontally(550);
        let (right, curve) = rest.split_horizontally(550);
        self.draw_speed_curve(&curve)?;
        let max_callers = self.callers.iter().copied().max().unwrap_or(64) as f64;
        let x_range = (1f64..max_callers * 1.2).log_scale();
        let max_tput = series
            .iter()
            .flat_map(|s| s.1.iter().map(|p| p.1))
            .fold(10.0, f64::max);
        let mut tput = ChartBuilder::on(&left)
            .caption("throughput (ops/s)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(x_range.clone(), (10f64..max_tput * 2.0).log_scale())?;
        tput.configure_mesh().x_desc("concurrent callers").draw()?;
        let max_p99 = series
            .iter()
            .flat_map(|s| s.1.iter().map(|p| p.2))
            .fold(1.0, f64::max);
        let mut p99 = ChartBuilder::on(&right)
            .caption("p99 latency (ms)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(x_range, (0.05f64..max_p99 * 2.0).log_scale())?;
        p99.configure_mesh().x_desc("concurrent callers").draw()?;
        for (name, pts, color) in &series {
            let color = *color;
            let line: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| p.1 > 0.0)
                .map(|p| (p.0 as f64, p.1))
                .collect();
            tput.draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            tput.draw_series(line.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
            let lat: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| p.2 > 0.0)
                .map(|p| (p.0 as f64, p.2))
                .collect();
            p99.draw_series(LineSeries::new(lat.clone(), color.stroke_width(2)))?;
            p99.draw_series(lat.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        }
        tput.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()?;
        root.present()?;
        Ok(())
    }
}

impl Results {
    /// Speed-to-lead p50 and p99 against offered load.
    fn draw_speed_curve(
        &self,
        area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    ) -> anyhow::Result<()> {
        let max_rate = self
            .speed_curve
            .iter()
            .map(|s| s.offered_per_second)
            .fold(10.0, f64::max);
        let max_ms = self
            .speed_curve
            .iter()
            .map(|s| s.p99_ms)
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption("speed-to-lead vs offered load (ms)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..max_rate * 1.1, (0.5f64..max_ms * 2.0).log_scale())?;
        chart.configure_mesh().x_desc("offered leads/s").draw()?;
        for (name, pick, color) in [
            (
                "p50",
                (|s: &SpeedToLead| s.p50_ms) as fn(&SpeedToLead) -> f64,
                RGBColor(44, 160, 44),
            ),
            ("p99", |s: &SpeedToLead| s.p99_ms, RGBColor(214, 39, 40)),
        ] {
            let line: Vec<(f64, f64)> = self
                .speed_curve
                .iter()
                .filter(|s| pick(s) > 0.0)
                .map(|s| (s.offered_per_second, pick(s)))
                .collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart.draw_series(line.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()?;
        Ok(())
    }
}

/// A line of the chart: its name, (callers, ops/s, p99 ms) points, its colour.
type Series<'a> = (&'a str, Vec<(usize, f64, f64)>, RGBColor);

fn points(figures: &[Figure]) -> Vec<(usize, f64, f64)> {
    figures
        .iter()
        .map(|f| (f.callers, f.per_second, f.p99_ms))
        .collect()
}

fn safe_div(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}
