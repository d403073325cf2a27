//! Webhooks: HMAC-SHA256 signing (pure) and delivery to loopback URLs (the
//! fake's one side effect, run by a background task of the transport).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::FakeCore;

/// One webhook ready to be sent.
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    pub job_id: String,
    pub delivery_id: String,
    /// `job.started`, `job.completed`, `job.failed`.
    pub event: String,
    pub url: String,
    /// Unix seconds, also signed.
    pub timestamp: u64,
    pub body: Bytes,
    /// `sha256=<hex>`.
    pub signature: String,
}

impl WebhookDelivery {
    /// The headers sent with the POST (lower-case names).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json".to_string()),
            ("x-webhook-event", self.event.clone()),
            ("x-webhook-delivery-id", self.delivery_id.clone()),
            ("x-webhook-timestamp", self.timestamp.to_string()),
            ("x-webhook-signature", self.signature.clone()),
        ]
    }
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header in constant time (what a receiver does).
pub fn verify(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Only loopback targets are ever contacted: `localhost`, 127.0.0.0/8, ::1.
pub fn is_loopback_url(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The background task delivering due webhooks; aborted on drop.
pub struct DeliveryTask(tokio::task::JoinHandle<()>);

impl Drop for DeliveryTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

const TICK: Duration = Duration::from_millis(10);

impl DeliveryTask {
    /// Spawns the loop on the current tokio runtime.
    pub fn spawn(core: Arc<FakeCore>) -> DeliveryTask {
        DeliveryTask(tokio::spawn(run(core)))
    }
}

async fn run(core: Arc<FakeCore>) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let Ok(client) = client else {
        tracing::error!("cannot build the webhook HTTP client; webhooks disabled");
        return;
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for delivery in core.take_due_webhooks() {
            if !is_loopback_url(&delivery.url) {
                tracing::warn!(url = %delivery.url, "refusing a non-loopback webhook URL");
                core.record_webhook_result(&delivery.job_id, &delivery.delivery_id, None);
                continue;
            }
            let client = client.clone();
            let core = core.clone();
            tokio::spawn(async move {
                let mut request = client.post(&delivery.url).body(delivery.body.clone());
                for (name, value) in delivery.headers() {
                    request = request.header(name, value);
                }
                let status = match request.send().await {
                    Ok(resp) => Some(resp.status().as_u16()),
                    Err(err) => {
                        tracing::warn!(url = %delivery.url, %err, "webhook delivery failed");
                        None
                    }
                };
                core.record_webhook_result(&delivery.job_id, &delivery.delivery_id, status);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let sig = sign("s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("sha256="));
        assert_eq!(sig.len(), 7 + 64);
        assert!(verify("s3cret", "1700000000", b"{\"a\":1}", &sig));
        assert!(!verify("other", "1700000000", b"{\"a\":1}", &sig));
        assert!(!verify("s3cret", "1700000001", b"{\"a\":1}", &sig));
    }

    #[test]
    fn loopback_only() {
        assert!(is_loopback_url("http://127.0.0.1:9/hook"));
        assert!(is_loopback_url("http://localhost/hook"));
        assert!(is_loopback_url("http://[::1]:80/"));
        assert!(!is_loopback_url("https://example.com/hook"));
        assert!(!is_loopback_url("http://10.0.0.1/hook"));
        assert!(!is_loopback_url("not a url"));
        assert!(!is_loopback_url("file:///etc/passwd"));
    }
}
