//! What `golive check` shows on stderr while it runs: one live bar per pack
//! (current check, n/of) with each finished check printed above the bars
//! when stderr is a terminal; plain lines when it is not; nothing with
//! `--quiet`. Logs written meanwhile go around the bars (see `LogWriter`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use golive::engine::Progress;
use golive::engine::summary::{Style, check_line};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars on screen, if any, so that log lines can be printed around them.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// `NO_COLOR` set to anything but the empty string turns colour off everywhere.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// A terminal that can redraw and colour (not `TERM=dumb`).
fn capable(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Colour for a stream that is a capable terminal, unless `NO_COLOR`.
pub fn color_for(is_terminal: bool) -> bool {
    capable(is_terminal) && !no_color()
}

enum Mode {
    Quiet,
    Lines,
    Bars {
        multi: MultiProgress,
        style: ProgressStyle,
        bars: Mutex<HashMap<String, ProgressBar>>,
    },
}

pub struct Display {
    mode: Mode,
    style: Style,
    /// How many finished checks got their line.
    shown: AtomicUsize,
}

impl Display {
    /// Chooses bars, plain lines or nothing from `--quiet` and stderr.
    pub fn new(quiet: bool) -> Display {
        let stderr = std::io::stderr();
        let terminal = capable(stderr.is_terminal());
        let color = color_for(stderr.is_terminal());
        let mode = if quiet {
            Mode::Quiet
        } else if terminal {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let template = if color {
                "{spinner:.cyan} {prefix:<14.bold} [{bar:24.cyan/blue}] {pos:>2}/{len:<2} {elapsed:>3} {wide_msg:.dim}"
            } else {
                "{spinner} {prefix:<14} [{bar:24}] {pos:>2}/{len:<2} {elapsed:>3} {wide_msg}"
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            let _ = BARS.set(multi.clone());
            Mode::Bars {
                multi,
                style,
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Mode::Lines
        };
        Display {
            mode,
            style: Style { color },
            shown: AtomicUsize::new(0),
        }
    }

    /// Shows one engine event.
    pub fn event(&self, p: &Progress) {
        match (&self.mode, p) {
            (Mode::Quiet, _) => {}
            (
                _,
                Progress::CheckFinished {
                    pack,
                    check,
                    status,
                    summary,
                },
            ) => {
                self.line(&check_line(self.style, check, *status, summary));
                self.shown.fetch_add(1, Ordering::Relaxed);
                if let Mode::Bars { bars, .. } = &self.mode {
                    if let Some(bar) = lock(bars).get(pack) {
                        bar.inc(1);
                        if bar.position() >= bar.length().unwrap_or(0) {
                            bar.set_message("done");
                        }
                    }
                }
            }
            (Mode::Bars { multi, style, bars }, Progress::PackStarted { pack, checks }) => {
                let bar = multi.add(ProgressBar::new(*checks as u64));
                bar.set_style(style.clone());
                bar.set_prefix(pack.clone());
                bar.set_message("starting…");
                bar.enable_steady_tick(Duration::from_millis(120));
                lock(bars).insert(pack.clone(), bar);
            }
            (
                Mode::Bars { bars, .. },
                Progress::CheckStarted {
                    pack, check, index, ..
                },
            ) => {
                if let Some(bar) = lock(bars).get(pack) {
                    bar.set_position(index.saturating_sub(1) as u64);
                    bar.set_message(check.clone());
                }
            }
            (Mode::Lines, _) => {}
        }
    }

    /// A line on stderr that does not break the bars (shown even with `--quiet`).
    pub fn note(&self, msg: &str) {
        self.line(msg);
    }

    fn line(&self, msg: &str) {
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(msg);
            }
            _ => {
                let _ = writeln!(std::io::stderr().lock(), "{msg}");
            }
        }
    }

    /// Takes the bars off the screen (the lines above them stay).
    pub fn finish(&self) {
        if let Mode::Bars { multi, bars, .. } = &self.mode {
            for (_, bar) in lock(bars).drain() {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
        }
    }

    /// How many finished checks got a line on stderr.
    pub fn lines_shown(&self) -> usize {
        self.shown.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// stderr for tracing: while bars are on screen, each log line is printed
/// with the bars lifted, so neither garbles the other.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BARS.get() {
            Some(multi) => multi.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match BARS.get() {
            Some(multi) => multi.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
