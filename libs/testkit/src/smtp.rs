//! A real SMTP server for tests: it speaks SMTP (220, EHLO, MAIL, RCPT,
//! DATA, QUIT) over TCP, keeps what it receives, and can be told to answer
//! the next messages with a 4xx or 5xx.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// The raw DATA (headers and body), dot-unstuffed.
    pub data: String,
}

#[derive(Default)]
struct State {
    received: Vec<ReceivedMail>,
    /// Answers for the next DATA commands (default 250).
    answers: VecDeque<u16>,
}

/// An SMTP sink on a loopback port.
pub struct SmtpSink {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: Option<JoinHandle<()>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener)
    }

    /// Starts on a given port (to bring a "down" server up later).
    pub async fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        Self::serve(listener)
    }

    fn serve(listener: TcpListener) -> SmtpSink {
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        SmtpSink {
            port,
            state,
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Answers the next DATA commands with these codes (e.g. 451, then 550).
    pub fn answer_next(&self, codes: &[u16]) {
        self.state.lock().unwrap().answers.extend(codes);
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` messages arrived (or the timeout passes).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn session(stream: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 leadflow-test-sink ESMTP\r\n").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-leadflow-test-sink\r\n250 8BITMIME\r\n".into()
        } else if upper.starts_with("HELO")
            || upper.starts_with("NOOP")
            || upper.starts_with("RSET")
        {
            if upper.starts_with("RSET") {
                from.clear();
                to.clear();
            }
            "250 OK\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            // A new transaction on a reused connection starts afresh.
            from = address(&line[10..]);
            to.clear();
            "250 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&line[8..]));
            "250 OK\r\n".into()
        } else if upper.starts_with("DATA") {
            let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                data.push_str(
                    line.strip_prefix('.')
                        .filter(|_| line.starts_with(".."))
                        .unwrap_or(&line),
                );
                data.push('\n');
            }
            let code = state.lock().unwrap().answers.pop_front().unwrap_or(250);
            if code == 250 {
                state.lock().unwrap().received.push(ReceivedMail {
                    from: from.clone(),
                    to: to.clone(),
                    data,
                });
                "250 OK queued\r\n".into()
            } else {
                format!(
                    "{code} {} (test sink)\r\n",
                    if code < 500 {
                        "try again later"
                    } else {
                        "rejected"
                    }
                )
            }
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 command not implemented\r\n".into()
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    arg.trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or("")
        .to_owned()
}
