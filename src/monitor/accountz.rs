//! `/accountz`: the accounts, and with `acc=NAME` one account's figures.

use std::time::SystemTime;

use serde::Serialize;

use super::report::Ask;
use super::time::rfc3339_nano;
use super::{Request, Response, Source};

#[derive(Serialize)]
struct Accountz {
    server_id: String,
    now: String,
    system_account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_detail: Option<AccountInfo>,
}

#[derive(Serialize)]
struct AccountInfo {
    account_name: String,
    update_time: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_system: bool,
    expired: bool,
    complete: bool,
    jetstream_enabled: bool,
    leafnode_connections: usize,
    client_connections: usize,
    subscriptions: usize,
}

pub fn accountz(src: &dyn Source, req: &Request, now: SystemTime) -> Response {
    let ctx = src.ctx();
    let system = ctx.system_account().to_string();
    let mut names: Vec<String> = (0..ctx.accounts.len() as u32)
        .map(|i| ctx.accounts.name(i).to_string())
        .collect();
    if !names.contains(&system) {
        names.push(system.clone());
    }
    let wanted = req.get("acc");
    let mut out = Accountz {
        server_id: ctx.server_id.clone(),
        now: rfc3339_nano(now),
        system_account: system.clone(),
        accounts: None,
        account_detail: None,
    };
    if wanted.is_empty() {
        out.accounts = Some(names);
        return Response::json(&out);
    }
    if !names.iter().any(|n| n == wanted) {
        return Response::bad_request(format!("Account {wanted} does not exist"));
    }
    let ask = Ask {
        conns: true,
        ..Ask::default()
    };
    let (mut clients, mut subs) = (0, 0);
    for r in src.ask(&ask) {
        for c in r.conns.iter().filter(|c| c.account == wanted) {
            clients += 1;
            subs += c.subscriptions;
        }
    }
    out.account_detail = Some(AccountInfo {
        account_name: wanted.to_string(),
        update_time: rfc3339_nano(ctx.rt.started),
        is_system: wanted == system,
        expired: false,
        complete: true,
        jetstream_enabled: false,
        leafnode_connections: 0,
        client_connections: clients,
        subscriptions: subs,
    });
    Response::json(&out)
}
