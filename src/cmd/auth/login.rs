//! `ghl-import auth login`: the authorization-code flow. The authorize URL is printed (open it in
//! a browser, choose the location, approve); the redirect comes back either to a one-shot
//! listener on 127.0.0.1 or, headless, as the redirect URL pasted on stdin. The `state` must
//! match, then the code is exchanged and the tokens stored.

use std::collections::HashMap;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::store::tokens::{TokenStore, Tokens, UserType};
use ghl_client::auth::oauth::OAuthApp;

/// How to log in.
#[derive(Debug)]
pub struct LoginOptions {
    /// The app.
    pub app: OAuthApp,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
    /// Location to preselect (the chooser may still offer others).
    pub location: Option<String>,
    /// Loopback port for the redirect (0: any free port; GHL needs the exact redirect URI
    /// registered in the app, so a fixed port is usual).
    pub port: u16,
    /// Print the URL and read the redirect URL from stdin instead of listening.
    pub headless: bool,
    /// Where to keep the tokens.
    pub store: TokenStore,
    /// A location's grant, or an agency's (`--agency`).
    pub kind: UserType,
    /// With an agency grant: the marketplace app's id (what `installedLocations` asks about).
    pub app_id: Option<String>,
}

/// Runs the flow and stores the tokens.
pub async fn login(opts: LoginOptions) -> anyhow::Result<Tokens> {
    let extra = authorize_extra(&opts);
    let (query, redirect_uri, state) = if opts.headless {
        let redirect_uri = format!("http://127.0.0.1:{}/callback", opts.port.max(1));
        let (url, state) = opts.app.authorize(&redirect_uri, &opts.scopes, &extra)?;
        eprintln!(
            "Open this URL in a browser, choose the location and approve:\n\n  {url}\n\n\
             The browser then goes to {redirect_uri}?code=… (the page may fail to load: that is fine).\n\
             Paste that whole address here and press Enter:"
        );
        let line = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        })
        .await?
        .context("reading the pasted redirect URL")?;
        anyhow::ensure!(
            !line.trim().is_empty(),
            "nothing was pasted (standard input is closed or empty); run the login in a terminal, \
             or without --no-browser"
        );
        let pasted = reqwest::Url::parse(line.trim())
            .context("the pasted text is not a URL (paste the whole address from the browser)")?;
        let q: HashMap<String, String> = pasted.query_pairs().into_owned().collect();
        (q, redirect_uri, state)
    } else {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .with_context(|| format!("listening on 127.0.0.1:{}", opts.port))?;
        let port = listener.local_addr()?.port();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        let (url, state) = opts.app.authorize(&redirect_uri, &opts.scopes, &extra)?;
        eprintln!(
            "Open this URL in a browser, choose the location and approve:\n\n  {url}\n\n\
             Waiting for the redirect to {redirect_uri} … (Ctrl-C to give up; --no-browser to paste it instead)"
        );
        let q = tokio::time::timeout(
            std::time::Duration::from_secs(600),
            wait_for_redirect(&listener),
        )
        .await
        .context("no redirect came back within 10 minutes")??;
        (q, redirect_uri, state)
    };
    if let Some(err) = query.get("error") {
        anyhow::bail!(
            "the authorization was refused: {err}{}",
            query
                .get("error_description")
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
    }
    anyhow::ensure!(
        query.get("state") == Some(&state),
        "the redirect's state does not match this login (a stale or forged redirect); start again"
    );
    let code = query
        .get("code")
        .filter(|c| !c.is_empty())
        .context("the redirect carries no code")?;
    let mut tokens = opts
        .app
        .exchange_code(code, &redirect_uri, &opts.scopes, opts.kind)
        .await?;
    tokens.app_id = opts.app_id.clone();
    if let (Some(want), UserType::Location) = (&opts.location, opts.kind) {
        anyhow::ensure!(
            &tokens.location_id == want,
            "the approval was for location {}, not {want}; choose {want} in the location chooser",
            tokens.location_id
        );
    }
    let _lock = opts.store.lock(&tokens.key()).await?;
    opts.store.save(&tokens)?;
    Ok(tokens)
}

/// The authorize URL's extra parameters: the location to preselect, and `user_type=Company`
/// for an agency grant (GHL's chooser offers the agency to apps that target it; the sandbox
/// reads the parameter).
fn authorize_extra(opts: &LoginOptions) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    if let Some(l) = &opts.location {
        v.push(("locationId", l.clone()));
    }
    if opts.kind == UserType::Company {
        v.push(("user_type", UserType::Company.as_str().to_owned()));
    }
    v
}

/// Accepts connections until one brings `/callback?…`; answers it with a short page.
async fn wait_for_redirect(
    listener: &tokio::net::TcpListener,
) -> anyhow::Result<HashMap<String, String>> {
    loop {
        let (mut sock, _) = listener.accept().await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 2048];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/");
        let url = reqwest::Url::parse(&format!("http://127.0.0.1{target}"))?;
        if url.path() != "/callback" {
            let _ = sock
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            continue;
        }
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let body = if q.contains_key("code") {
            "ghl-import: approved. You can close this tab."
        } else {
            "ghl-import: the authorization did not complete. See the terminal."
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(resp.as_bytes()).await;
        let _ = sock.shutdown().await;
        return Ok(q);
    }
}
