//! The nested blocks of the options: `authorization` (users, permissions,
//! connection types), `accounts`, `tls`, `websocket` and `leafnodes`.

use std::path::PathBuf;
use std::time::Duration;

use super::options::{
    Account, AccountLimits, Authorization, ConnectionType, Export, Import, LeafnodeOptions,
    OperatorOptions, Permissions, RemoteLeaf, ResponsePermission, ResponseType, SubjectPermission,
    TlsOptions, User, WebsocketOptions, DEFAULT_HOST,
};
use super::read::{self, Report};
use super::value::{Item, Map, Value};
use crate::auth::jwt;

/// `authorization { user, password, token, timeout, users, nkeys, default_permissions }`.
/// `full` is false for the simple form of the websocket block (user/password/token/timeout).
pub(crate) fn authorization(m: &Map, at: &Item, r: &mut Report, full: bool) -> Authorization {
    let mut a = Authorization::default();
    let mut defaultsat = None;
    for entry in m.entries() {
        let item = &entry.item;
        let key = entry.key.to_ascii_lowercase();
        match key.as_str() {
            "user" | "username" => a.user = r.take(read::string(item, &key)),
            "pass" | "password" => a.password = r.take(read::string(item, &key)),
            "token" => a.token = r.take(read::string(item, &key)),
            "timeout" => a.timeout = read::seconds(item, &key, r),
            "users" if full => {
                if let Some(list) = r.take(read::array(item, &key)) {
                    let (users, nkeys) = users(list, r);
                    a.users = Some(users);
                    a.nkeys.extend(nkeys);
                }
            }
            "nkeys" if full => {
                if let Some(list) = r.take(read::array(item, &key)) {
                    let (users, nkeys) = users(list, r);
                    a.nkeys.extend(nkeys);
                    a.users.get_or_insert_with(Vec::new).extend(users);
                }
            }
            "default_permissions" | "permissions" if full => {
                if let Some(pm) = r.take(read::map(item, &key)) {
                    a.default_permissions = Some(read_permissions(pm, r));
                    defaultsat = Some(item);
                }
            }
            _ => r.unknown(entry, "authorization"),
        }
    }
    if full {
        if a.token.is_some() && (a.user.is_some() || a.password.is_some()) {
            r.error(at, "Cannot have a user/pass and token");
        }
        if a.users.is_some() && a.user.is_some() {
            r.error(at, "Can not have a single user/pass and a users array");
        }
        if a.users.is_some() && a.token.is_some() {
            r.error(at, "Can not have a token and a users array");
        }
        // nats-server gives them only to the users of a users list; without
        // one they would restrict nobody.
        if a.users.is_none() && a.default_permissions.as_ref().is_some_and(restricts) {
            r.error(
                defaultsat.unwrap_or(at),
                "default_permissions apply to the users of a users list, and there is none: ringnats refuses to start rather than let them restrict nobody",
            );
        }
    }
    a
}

/// Whether a permissions block allows or denies anything.
fn restricts(p: &Permissions) -> bool {
    let some = |sp: &Option<SubjectPermission>| {
        sp.as_ref()
            .is_some_and(|sp| !sp.allow.is_empty() || !sp.deny.is_empty())
    };
    some(&p.publish) || some(&p.subscribe) || p.allow_responses.is_some()
}

/// A `users` list: user/password entries and NKEY entries, apart.
fn users(list: &[Item], r: &mut Report) -> (Vec<User>, Vec<User>) {
    let mut plain = Vec::new();
    let mut nkeys = Vec::new();
    for item in list {
        let Some(m) = r.take(read::map(item, "users")) else {
            continue;
        };
        let u = user(m, item, r);
        if u.nkey.is_some() {
            nkeys.push(u);
        } else {
            plain.push(u);
        }
    }
    (plain, nkeys)
}

fn user(m: &Map, at: &Item, r: &mut Report) -> User {
    let mut u = User::default();
    for entry in m.entries() {
        let item = &entry.item;
        let key = entry.key.to_ascii_lowercase();
        match key.as_str() {
            "user" | "username" => {
                u.username = r.take(read::string(item, &key)).unwrap_or_default()
            }
            "pass" | "password" => u.password = r.take(read::string(item, &key)),
            "nkey" => {
                if let Some(k) = r.take(read::string(item, &key)) {
                    if !k.starts_with('U') || nkeys::KeyPair::from_public_key(&k).is_err() {
                        r.error(item, format!("Not a valid public nkey for a user: \"{k}\""));
                    }
                    u.nkey = Some(k);
                }
            }
            "permission" | "permissions" | "authorization" => {
                if let Some(pm) = r.take(read::map(item, &key)) {
                    u.permissions = Some(read_permissions(pm, r));
                }
            }
            "allowed_connection_types" | "connection_types" | "clients" => {
                if let Some(names) = r.take(read::strings(item, &key)) {
                    u.allowed_connection_types = Some(connection_types(&names, item, r));
                }
            }
            _ => r.unknown(entry, "user"),
        }
    }
    if u.nkey.is_none() && u.username.is_empty() {
        r.error(at, "User entry requires a user");
    }
    if u.nkey.is_some() && u.password.is_some() {
        r.error(at, "Nkey users do not take a password");
    }
    u
}

fn connection_types(names: &[String], at: &Item, r: &mut Report) -> Vec<ConnectionType> {
    let mut out = Vec::new();
    for name in names {
        match ConnectionType::parse(name) {
            Some(t) => out.push(t),
            None => r.error(
                at,
                format!(
                    "invalid connection type \"{name}\" (expected STANDARD, WEBSOCKET, LEAFNODE, LEAFNODE_WS, MQTT, MQTT_WS or IN_PROCESS)"
                ),
            ),
        }
    }
    out
}

/// A permissions map: `publish`, `subscribe` (each a list or
/// `{allow, deny}`) and `allow_responses`.
fn read_permissions(m: &Map, r: &mut Report) -> Permissions {
    let mut p = Permissions::default();
    for entry in m.entries() {
        let item = &entry.item;
        let key = entry.key.to_ascii_lowercase();
        match key.as_str() {
            "pub" | "publish" | "import" => p.publish = subject_permission(item, &key, r),
            "sub" | "subscribe" | "export" => p.subscribe = subject_permission(item, &key, r),
            "allow_responses" | "allow_response" => match &item.value {
                Value::Bool(true) => p.allow_responses = Some(default_responses()),
                Value::Bool(false) => {}
                Value::Map(rm) => {
                    let mut rp = default_responses();
                    for e in rm.entries() {
                        let k = e.key.to_ascii_lowercase();
                        match k.as_str() {
                            "max" | "max_msgs" | "max_messages" | "max_responses" => {
                                if let Some(n) = r.take(read::int_in(&e.item, &k, 0, i64::MAX)) {
                                    rp.max = n as usize;
                                }
                            }
                            "expires" | "expiration" | "ttl" => {
                                if let Some(d) = read::duration(&e.item, &k, r) {
                                    rp.expires = d;
                                }
                            }
                            _ => r.unknown(e, "allow_responses"),
                        }
                    }
                    p.allow_responses = Some(rp);
                }
                _ => r.error(
                    item,
                    format!("{key}: expected true, false or a map {{max, expires}}"),
                ),
            },
            _ => r.unknown(entry, "permissions"),
        }
    }
    p
}

/// nats-server's defaults: one answer, within two minutes.
fn default_responses() -> ResponsePermission {
    ResponsePermission {
        max: 1,
        expires: Duration::from_secs(120),
    }
}

/// `publish: "a.>"`, `publish: ["a", "b"]` or `publish: {allow: [...], deny: [...]}`.
fn subject_permission(item: &Item, key: &str, r: &mut Report) -> Option<SubjectPermission> {
    let mut sp = SubjectPermission::default();
    match &item.value {
        Value::Map(m) => {
            for e in m.entries() {
                let k = e.key.to_ascii_lowercase();
                match k.as_str() {
                    "allow" => sp.allow = r.take(read::strings(&e.item, &k))?,
                    "deny" => sp.deny = r.take(read::strings(&e.item, &k))?,
                    _ => r.unknown(e, "permissions"),
                }
            }
        }
        _ => sp.allow = r.take(read::strings(item, key))?,
    }
    for s in sp.allow.iter().chain(sp.deny.iter()) {
        if !permission_subject_ok(s) {
            r.error(
                item,
                format!("{key}: invalid subject \"{s}\" in permissions"),
            );
        }
    }
    Some(sp)
}

/// A subject for a permission: tokens separated by dots, wildcards allowed;
/// a queue may follow after a space (subscribe permissions).
fn permission_subject_ok(s: &str) -> bool {
    let subject = s.split(' ').next().unwrap_or("");
    !subject.is_empty() && subject.split('.').all(|t| !t.is_empty())
}

/// `accounts { NAME { users: [...] } ... }`.
/// An account's `limits { max_connections, max_subscriptions,
/// max_payload, max_leafnodes }` (-1: none).
fn account_limits(item: &Item, r: &mut Report) -> AccountLimits {
    let mut l = AccountLimits::default();
    let Value::Map(m) = &item.value else {
        r.error(item, "Expected account limits to be a map/struct");
        return l;
    };
    for e in m.entries() {
        let k = e.key.to_ascii_lowercase();
        let slot = match k.as_str() {
            "max_connections" | "max_conn" => &mut l.connections,
            "max_subscriptions" | "max_subs" => &mut l.subscriptions,
            "max_payload" | "max_pay" => &mut l.payload,
            "max_leafnodes" | "max_leafs" => &mut l.leafnodes,
            _ => {
                if !e.used_as_variable {
                    r.error(
                        &e.item,
                        format!("Unknown field {:?} parsing account limits", e.key),
                    );
                }
                continue;
            }
        };
        if let Some(n) = r.take(read::int_in(&e.item, &k, -1, i32::MAX as i64)) {
            *slot = Some(n);
        }
    }
    l
}

pub(crate) fn accounts(m: &Map, r: &mut Report) -> Vec<Account> {
    let mut out = Vec::new();
    for entry in m.entries() {
        let item = &entry.item;
        let mut acc = Account {
            name: entry.key.clone(),
            ..Account::default()
        };
        let mut defaults = None;
        match &item.value {
            Value::Map(am) => {
                for e in am.entries() {
                    let k = e.key.to_ascii_lowercase();
                    match k.as_str() {
                        "users" | "nkeys" => {
                            if let Some(list) = r.take(read::array(&e.item, &k)) {
                                let (users, nkeys) = users(list, r);
                                for mut u in users.into_iter().chain(nkeys) {
                                    u.account = Some(acc.name.clone());
                                    acc.users.push(u);
                                }
                            }
                        }
                        "default_permissions" => {
                            if let Some(pm) = r.take(read::map(&e.item, &k)) {
                                defaults = Some(read_permissions(pm, r));
                            }
                        }
                        "exports" => {
                            if let Some(list) = r.take(read::array(&e.item, &k)) {
                                acc.exports = list.iter().filter_map(|i| export(i, r)).collect();
                            }
                        }
                        "imports" => {
                            if let Some(list) = r.take(read::array(&e.item, &k)) {
                                acc.imports = list.iter().filter_map(|i| import(i, r)).collect();
                            }
                        }
                        "limits" => acc.limits = account_limits(&e.item, r),
                        "jetstream" | "mappings" | "maps" | "msg_trace" => {
                            r.ignored(e, "not supported for accounts yet")
                        }
                        _ => r.unknown(e, "account"),
                    }
                }
            }
            // An account written as a bare name (accounts { A, B }) is empty.
            Value::String(_) | Value::Bool(_) => {}
            _ => {
                r.error(item, format!("account \"{}\": expected a map", entry.key));
            }
        }
        // The account's users without permissions of their own get its
        // default_permissions, as in nats-server.
        if let Some(d) = defaults {
            for u in acc.users.iter_mut().filter(|u| u.permissions.is_none()) {
                u.permissions = Some(d.clone());
            }
        }
        out.push(acc);
    }
    check_imports(&out, m, r);
    let mut seen = std::collections::HashSet::new();
    for acc in &out {
        for u in &acc.users {
            let name = u.nkey.clone().unwrap_or_else(|| u.username.clone());
            if !seen.insert(name.clone()) {
                if let Some(e) = m.entries().find(|e| e.key == acc.name) {
                    r.error(&e.item, format!("Duplicate user \"{name}\" detected"));
                }
            }
        }
    }
    out
}

/// What nats-server checks of exports and imports once every account is
/// known (its messages; each error points at the account's entry): the
/// accounts named exist, every import is exported to the importer, the
/// subjects and mappings are valid, and no import leads back where it came
/// from.
fn check_imports(accounts: &[Account], m: &Map, r: &mut Report) {
    use crate::subject::transform::Transform;
    use crate::subject::{has_wildcard, is_valid_subject, pattern_covers};
    let by_name = |n: &str| accounts.iter().find(|a| a.name == n);
    for acc in accounts {
        let Some(at) = m.entries().find(|e| e.key == acc.name).map(|e| &e.item) else {
            continue;
        };
        for x in &acc.exports {
            let kind = if x.service { "service" } else { "stream" };
            for name in x.accounts.iter().flatten() {
                if by_name(name).is_none() {
                    r.error(
                        at,
                        format!("\"{name}\" account not defined for {kind} export"),
                    );
                }
            }
            if !is_valid_subject(x.subject.as_bytes()) {
                r.error(
                    at,
                    format!(
                        "Error adding {kind} export \"{}\": invalid subject",
                        x.subject
                    ),
                );
            }
        }
        for i in &acc.imports {
            let kind = if i.service { "service" } else { "stream" };
            let fail = |r: &mut Report, why: &str| {
                r.error(
                    at,
                    format!("Error adding {kind} import \"{}\": {why}", i.subject),
                );
            };
            let Some(from) = by_name(&i.account) else {
                r.error(
                    at,
                    format!("\"{}\" account not defined for {kind} import", i.account),
                );
                continue;
            };
            let exported = from.exports.iter().any(|x| {
                x.service == i.service
                    && pattern_covers(x.subject.as_bytes(), i.subject.as_bytes())
                    && x.accounts
                        .as_ref()
                        .is_none_or(|names| names.contains(&acc.name))
            });
            if !exported {
                fail(r, &format!("{kind} import not authorized"));
                continue;
            }
            if let Some(p) = &i.prefix {
                if has_wildcard(p.as_bytes()) || !is_valid_subject(p.as_bytes()) {
                    fail(r, "stream import prefix can not contain wildcard tokens");
                    continue;
                }
            }
            let (src, dst) = i.route();
            if let Err(why) = Transform::new(&src, &dst) {
                fail(r, &why);
                continue;
            }
            if import_forms_cycle(accounts, &acc.name, i) {
                fail(r, "import forms a cycle");
            }
        }
    }
}

/// Whether following `first` (imported by `importer`) through the imports
/// its messages meet comes back to an account already passed.
fn import_forms_cycle(accounts: &[Account], importer: &str, first: &Import) -> bool {
    use crate::subject::patterns_collide;
    // A step: a message on `subject` arrives in account `at`.
    fn next<'a>(
        accounts: &'a [Account],
        at: &'a str,
        subject: &str,
        service: bool,
    ) -> Vec<(&'a str, String)> {
        let mut out = Vec::new();
        for acc in accounts {
            for i in acc.imports.iter().filter(|i| i.service == service) {
                let (src, dst) = i.route();
                let (from, to) = if service {
                    (acc.name.as_str(), i.account.as_str())
                } else {
                    (i.account.as_str(), acc.name.as_str())
                };
                if from == at && patterns_collide(src.as_bytes(), subject.as_bytes()) {
                    out.push((to, dst));
                }
            }
        }
        out
    }
    let (_, dst) = first.route();
    let (start, arrive) = if first.service {
        (importer, first.account.as_str())
    } else {
        (first.account.as_str(), importer)
    };
    // Depth first, with the accounts on the way (bounded like nats-server's
    // search): one that comes again is a cycle.
    fn walk(
        accounts: &[Account],
        path: &mut Vec<String>,
        at: &str,
        subject: &str,
        service: bool,
    ) -> bool {
        if path.iter().any(|p| p == at) || path.len() >= 64 {
            return true;
        }
        path.push(at.to_string());
        let cycle = next(accounts, at, subject, service)
            .into_iter()
            .any(|(to, s)| walk(accounts, path, to, &s, service));
        path.pop();
        cycle
    }
    walk(
        accounts,
        &mut vec![start.to_string()],
        arrive,
        &dst,
        first.service,
    )
}

/// One `exports` entry: `{stream: S}` or `{service: S, response_type,
/// response_threshold}`, with `accounts: [..]` to name who may import it.
fn export(item: &Item, r: &mut Report) -> Option<Export> {
    let Value::Map(m) = &item.value else {
        r.error(item, "Export Items should be a map with type entry");
        return None;
    };
    let mut kind: Option<(bool, String)> = None;
    let mut accounts = None;
    let mut response = None;
    let mut threshold = None;
    for e in m.entries() {
        let k = e.key.to_ascii_lowercase();
        match k.as_str() {
            "stream" | "service" => {
                let service = k == "service";
                if kind_changed(kind.as_ref().map(|(was, _)| *was), service, &e.item, r) {
                    continue;
                }
                if let Some(s) = r.take(read::string(&e.item, &k)) {
                    kind = Some((service, s));
                }
            }
            "accounts" => accounts = r.take(read::strings(&e.item, &k)),
            "response" | "response_type" => {
                if response.is_some() {
                    r.error(&e.item, "Duplicate response type definition");
                    continue;
                }
                let Some(s) = r.take(read::string(&e.item, &k)) else {
                    continue;
                };
                response = Some(match s.to_ascii_lowercase().as_str() {
                    "single" | "singleton" => ResponseType::Singleton,
                    "stream" => ResponseType::Stream,
                    "chunk" | "chunked" => ResponseType::Chunked,
                    _ => {
                        r.error(&e.item, format!("Unknown response type: \"{s}\""));
                        continue;
                    }
                });
            }
            "threshold" | "response_threshold" | "response_max_time" | "response_time" => {
                let Some(s) = r.take(read::string(&e.item, &k)) else {
                    continue;
                };
                match read::parse_go_duration(&s) {
                    Some(d) => threshold = Some(d),
                    None => r.error(
                        &e.item,
                        format!("Expected response threshold to be a parseable time duration, got \"{s}\""),
                    ),
                }
            }
            "latency" | "allow_trace" | "account_token_position" => {
                r.unenforced(&e.item, &format!("export \"{}\"", e.key))
            }
            _ => r.unknown(e, ""),
        }
    }
    let Some((service, subject)) = kind else {
        r.error(item, "Export Items should be a map with type entry");
        return None;
    };
    if !service && (response.is_some() || threshold.is_some()) {
        r.error(item, "Detected response directive on non-service");
        return None;
    }
    Some(Export {
        service,
        subject,
        accounts,
        response: response.unwrap_or_default(),
        threshold,
    })
}

/// An export or import names both a stream and a service: the second is
/// an error, in nats-server's words.
fn kind_changed(was: Option<bool>, service: bool, item: &Item, r: &mut Report) -> bool {
    if was.is_none_or(|was| was == service) {
        return false;
    }
    let (this, other) = if service {
        ("service", "stream")
    } else {
        ("stream", "service")
    };
    r.error(item, format!("Detected {this} but already saw a {other}"));
    true
}

/// One `imports` entry: `{stream: {account, subject}, prefix | to}` or
/// `{service: {account, subject}, to}`.
fn import(item: &Item, r: &mut Report) -> Option<Import> {
    let Value::Map(m) = &item.value else {
        r.error(item, "Import Items should be a map with type entry");
        return None;
    };
    let mut kind: Option<(bool, String, String)> = None;
    let mut to = None;
    let mut prefix = None;
    for e in m.entries() {
        let k = e.key.to_ascii_lowercase();
        match k.as_str() {
            "stream" | "service" => {
                let service = k == "service";
                if kind_changed(kind.as_ref().map(|(was, ..)| *was), service, &e.item, r) {
                    continue;
                }
                let Value::Map(am) = &e.item.value else {
                    let what = if service { "Service" } else { "Stream" };
                    r.error(&e.item, format!("{what} entry should be an account map"));
                    continue;
                };
                let mut account = String::new();
                let mut subject = String::new();
                for f in am.entries() {
                    match f.key.to_ascii_lowercase().as_str() {
                        "account" => {
                            account = r.take(read::string(&f.item, "account")).unwrap_or_default()
                        }
                        "subject" => {
                            subject = r.take(read::string(&f.item, "subject")).unwrap_or_default()
                        }
                        _ => r.unknown(f, ""),
                    }
                }
                if account.is_empty() || subject.is_empty() {
                    r.error(&e.item, "Expect an account name and a subject");
                    continue;
                }
                kind = Some((service, account, subject));
            }
            "to" => {
                to = r
                    .take(read::string(&e.item, "to"))
                    .map(|s| (s, e.item.clone()))
            }
            "prefix" => {
                prefix = r
                    .take(read::string(&e.item, "prefix"))
                    .map(|s| (s, e.item.clone()))
            }
            "share" | "allow_trace" => {
                if r.take(read::boolean(&e.item, &k)) == Some(true) {
                    r.unenforced(&e.item, &format!("import \"{}\"", e.key));
                }
            }
            _ => r.unknown(e, ""),
        }
    }
    let (service, account, subject) = kind?;
    if let (false, Some((_, at)), Some(_)) = (service, &to, &prefix) {
        r.error(
            at,
            "Stream import can not have a 'prefix' and a 'to' property",
        );
        return None;
    }
    Some(Import {
        service,
        account,
        subject,
        to: to.map(|(s, _)| s),
        prefix: match prefix {
            Some((_, at)) if service => {
                r.warn(
                    &at,
                    "'prefix' applies to stream imports only; ignored on a service import, as nats-server does",
                );
                None
            }
            p => p.map(|(s, _)| s),
        },
        until: None,
    })
}

/// `tls { cert_file, key_file, ca_file, verify, verify_and_map, timeout, ... }`.
pub(crate) fn tls(m: &Map, _at: &Item, r: &mut Report) -> Option<TlsOptions> {
    let mut t = TlsOptions {
        pos: Some(_at.pos.clone()),
        ..TlsOptions::default()
    };
    for entry in m.entries() {
        let item = &entry.item;
        let key = entry.key.to_ascii_lowercase();
        let path = |r: &mut Report| r.take(read::string(item, &key)).map(PathBuf::from);
        match key.as_str() {
            "cert_file" => t.cert_file = path(r),
            "key_file" => t.key_file = path(r),
            "ca_file" => t.ca_file = path(r),
            "verify" => {
                t.verify = r.take(read::boolean(item, &key)).unwrap_or(false);
            }
            "verify_and_map" => {
                t.verify_and_map = r.take(read::boolean(item, &key)).unwrap_or(false);
                t.verify |= t.verify_and_map;
            }
            "pinned_certs" | "verify_cert_and_check_known_urls" | "ocsp_peer" => r.unenforced(
                item,
                &format!("\"{}\" (client certificate checks)", entry.key),
            ),
            "insecure" => t.insecure = r.take(read::boolean(item, &key)).unwrap_or(false),
            "timeout" => t.timeout = read::seconds(item, &key, r),
            "handshake_first" | "first" | "immediate" => {
                t.handshake_first = r.take(read::boolean(item, &key)).unwrap_or(false)
            }
            "min_version" => {
                if let Some(v) = r.take(read::string(item, &key)) {
                    match crate::tls::parse_min_version(&v) {
                        Ok(v13) => t.min_version_13 = v13,
                        Err(e) => r.error(item, e),
                    }
                }
            }
            "cipher_suites" => {
                t.cipher_suites = tls_names(item, &key, r, crate::tls::is_known_cipher, "cipher")
            }
            "curve_preferences" => {
                t.curve_preferences = tls_names(
                    item,
                    &key,
                    r,
                    crate::tls::is_known_curve,
                    "curve preference",
                )
            }
            "connection_rate_limit"
            | "cert_store"
            | "cert_match"
            | "cert_match_by"
            | "ca_certs_match" => r.unenforced(item, &format!("\"{}\" in a tls block", entry.key)),
            _ => r.error(
                item,
                format!(
                    "error parsing tls config, unknown field [\"{}\"]",
                    entry.key
                ),
            ),
        }
    }
    match (&t.cert_file, &t.key_file) {
        (Some(_), None) => r.error(_at, "missing 'key_file' in TLS configuration"),
        (None, Some(_)) => r.error(_at, "missing 'cert_file' in TLS configuration"),
        _ => {}
    }
    Some(t)
}

/// A tls block's list of Go names (`cipher_suites`, `curve_preferences`):
/// not empty, each one known, with nats-server's messages.
fn tls_names(
    item: &Item,
    key: &str,
    r: &mut Report,
    known: fn(&str) -> bool,
    what: &str,
) -> Vec<String> {
    let names = r.take(read::strings(item, key)).unwrap_or_default();
    if names.is_empty() {
        r.error(
            item,
            format!("error parsing tls config, '{key}' cannot be empty"),
        );
    }
    for n in names.iter().filter(|n| !known(n)) {
        r.error(item, format!("unrecognized {what} {n}"));
    }
    names
}

/// `websocket { ... }` with every key of nats-server's block.
pub(crate) fn websocket(m: &Map, r: &mut Report) -> WebsocketOptions {
    let mut w = WebsocketOptions::default();
    for entry in m.entries() {
        let item = &entry.item;
        let key = entry.key.to_ascii_lowercase();
        let text = |r: &mut Report| r.take(read::string(item, &key));
        match key.as_str() {
            "listen" => read::listen_into(item, &key, &mut w.host, &mut w.port, r),
            "port" => w.port = r.take(read::port(item, &key)).unwrap_or(w.port),
            "host" | "net" => w.host = text(r).unwrap_or_else(|| DEFAULT_HOST.to_string()),
            "advertise" => w.advertise = text(r),
            "no_tls" => w.no_tls = r.take(read::boolean(item, &key)).unwrap_or(false),
            "proxy_protocol" => {
                w.proxy_protocol = r.take(read::boolean(item, &key)).unwrap_or(false)
            }
            "tls" => {
                if let Some(tm) = r.take(read::map(item, &key)) {
                    w.tls = tls(tm, item, r);
                }
            }
            "same_origin" => w.same_origin = r.take(read::boolean(item, &key)).unwrap_or(false),
            "allowed_origins" | "allowed_origin" | "allow_origins" | "allow_origin" | "origins"
            | "origin" => w.allowed_origins = r.take(read::strings(item, &key)).unwrap_or_default(),
            "handshake_timeout" => {
                if let Some(d) = handshake_timeout(item, &key, r) {
                    w.handshake_timeout = d;
                }
            }
            "compress" | "compression" => {
                w.compression = r.take(read::boolean(item, &key)).unwrap_or(false)
            }
            "authorization" | "authentication" => {
                if let Some(am) = r.take(read::map(item, &key)) {
                    w.auth = authorization(am, item, r, false);
                }
            }
            "jwt_cookie" => w.jwt_cookie = text(r),
            "user_cookie" => w.user_cookie = text(r),
            "pass_cookie" => w.pass_cookie = text(r),
            "token_cookie" => w.token_cookie = text(r),
            "no_auth_user" => w.no_auth_user = text(r),
            "headers" => {
                if let Some(hm) = r.take(read::map(item, &key)) {
                    for h in hm.entries() {
                        if let Some(v) = r.take(read::string(&h.item, &h.key)) {
                            w.headers.push((h.key.clone(), v));
                        }
                    }
                }
            }
            "ping_interval" => w.ping_interval = read::duration(item, &key, r),
            _ => r.unknown(entry, "websocket"),
        }
    }
    w
}

/// nats-server takes an integer here as seconds, and otherwise a duration.
fn handshake_timeout(item: &Item, key: &str, r: &mut Report) -> Option<Duration> {
    match &item.value {
        Value::Integer(n) if *n >= 0 => Some(Duration::from_secs(*n as u64)),
        Value::String(_) => read::duration(item, key, r),
        _ => {
            r.error(
                item,
                "error parsing handshake timeout: expected a duration such as \"2s\"",
            );
            None
        }
    }
}

/// `leafnodes { listen, port, host, advertise, tls, authorization, remotes, reconnect }`.
pub(crate) fn leafnodes(m: &Map, r: &mut Report) -> LeafnodeOptions {
    let mut l = LeafnodeOptions {
        host: DEFAULT_HOST.to_string(),
        ..Default::default()
    };
    for entry in m.entries() {
        let item = &entry.item;
        let key = entry.key.to_ascii_lowercase();
        match key.as_str() {
            "listen" => read::listen_into(item, &key, &mut l.host, &mut l.port, r),
            "port" => l.port = r.take(read::port(item, &key)).unwrap_or(l.port),
            "host" | "net" => {
                l.host = r
                    .take(read::string(item, &key))
                    .unwrap_or_else(|| DEFAULT_HOST.to_string())
            }
            "advertise" | "cluster_advertise" => l.advertise = r.take(read::string(item, &key)),
            "no_advertise" => l.no_advertise = r.take(read::boolean(item, &key)).unwrap_or(false),
            "tls" => {
                if let Some(tm) = r.take(read::map(item, &key)) {
                    l.tls = tls(tm, item, r);
                }
            }
            "authorization" => {
                if let Some(am) = r.take(read::map(item, &key)) {
                    l.auth = leaf_authorization(am, r);
                }
            }
            "remotes" => {
                if let Some(list) = r.take(read::array(item, &key)) {
                    for ri in list {
                        if let Some(rm) = r.take(read::map(ri, "remotes")) {
                            l.remotes.push(remote(rm, ri, r));
                        }
                    }
                }
            }
            "reconnect" | "reconnect_delay" | "reconnect_interval" => {
                l.reconnect = match &item.value {
                    Value::Integer(n) if *n >= 0 => Some(Duration::from_secs(*n as u64)),
                    _ => read::duration(item, &key, r),
                }
            }
            "min_version" | "compression" | "isolate_leafnode_interest" | "write_deadline" => {
                r.ignored(entry, "not supported for leaf nodes yet")
            }
            _ => r.unknown(entry, "leafnodes"),
        }
    }
    l
}

fn leaf_authorization(m: &Map, r: &mut Report) -> Authorization {
    let mut a = Authorization::default();
    for entry in m.entries() {
        let item = &entry.item;
        let key = entry.key.to_ascii_lowercase();
        match key.as_str() {
            "user" | "username" => a.user = r.take(read::string(item, &key)),
            "pass" | "password" => a.password = r.take(read::string(item, &key)),
            "timeout" => a.timeout = read::seconds(item, &key, r),
            "users" => {
                if let Some(list) = r.take(read::array(item, &key)) {
                    let (users, nkeys) = users(list, r);
                    a.users = Some(users);
                    a.nkeys = nkeys;
                }
            }
            "account" => {
                r.take(read::string(item, &key));
            }
            _ => r.unknown(entry, "leafnode authorization"),
        }
    }
    a
}

fn remote(m: &Map, at: &Item, r: &mut Report) -> RemoteLeaf {
    let mut rl = RemoteLeaf::default();
    for entry in m.entries() {
        let item = &entry.item;
        let key = entry.key.to_ascii_lowercase();
        match key.as_str() {
            "url" | "urls" => {
                if let Some(urls) = r.take(read::strings(item, &key)) {
                    for u in &urls {
                        if !valid_remote_url(u) {
                            r.error(item, format!("error parsing remote leafnode url [\"{u}\"]"));
                        }
                    }
                    rl.urls.extend(urls);
                }
            }
            "account" | "local" => rl.account = r.take(read::string(item, &key)),
            "credentials" | "creds" => {
                rl.credentials = r.take(read::string(item, &key)).map(PathBuf::from)
            }
            "tls" => {
                if let Some(tm) = r.take(read::map(item, &key)) {
                    rl.tls = tls(tm, item, r);
                }
            }
            "hub" => rl.hub = r.take(read::boolean(item, &key)).unwrap_or(false),
            "deny_imports" | "deny_import" => {
                rl.deny_imports = r.take(read::strings(item, &key)).unwrap_or_default()
            }
            "deny_exports" | "deny_export" => {
                rl.deny_exports = r.take(read::strings(item, &key)).unwrap_or_default()
            }
            "ws_compress" | "ws_compression" | "websocket_compress" | "websocket_compression" => {
                rl.ws_compression = r.take(read::boolean(item, &key)).unwrap_or(false)
            }
            "ws_no_masking" | "websocket_no_masking" => {
                rl.ws_no_masking = r.take(read::boolean(item, &key)).unwrap_or(false)
            }
            "nkey" | "seed" | "compression" | "first_info_timeout" | "disable" | "no_randomize"
            | "dont_randomize" | "name" => r.ignored(entry, "not supported for remotes yet"),
            _ => r.unknown(entry, "remote"),
        }
    }
    if rl.urls.is_empty() {
        r.error(at, "remote leafnode requires a url");
    }
    rl
}

/// nats-leaf://, tls://, ws:// or wss:// with a host; nats-server parses
/// these with Go's url.Parse, which accepts almost anything with a scheme.
fn valid_remote_url(u: &str) -> bool {
    let Some((scheme, rest)) = u.split_once("://") else {
        return false;
    };
    !scheme.is_empty() && !rest.is_empty()
}

/// `operator`: one or a list of operator JWTs, each a file (decorated or
/// not) or, when no such file can be read and it looks like one, the JWT
/// itself, as nats-server reads them.
pub(crate) fn operators(item: &Item, o: &mut OperatorOptions, r: &mut Report) {
    let items: Vec<&Item> = match &item.value {
        Value::Array(a) => a.iter().collect(),
        _ => vec![item],
    };
    for it in items {
        let Some(s) = r.take(read::string(it, "operator")) else {
            continue;
        };
        let text = match std::fs::read_to_string(&s) {
            Ok(text) => undecorated(&text),
            Err(_) if s.starts_with("eyJ") => s.clone(),
            Err(e) => {
                r.error(
                    it,
                    format!("error parsing operator JWT: open {s}: {}", io_reason(&e)),
                );
                continue;
            }
        };
        match jwt::decode::<jwt::Operator>(&text) {
            Ok(claims) => o.operators.push((claims, it.pos.clone())),
            Err(jwt::JwtError::Kind(..)) => {
                r.error(it, "error parsing operator JWT: not operator claim")
            }
            Err(e) => r.error(it, format!("error parsing operator JWT: {e}")),
        }
    }
}

/// Go's wording of the common file errors.
fn io_reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory",
        std::io::ErrorKind::PermissionDenied => "permission denied",
        _ => "cannot be read",
    }
}

/// The JWT in a file nsc wrote, between its `-----BEGIN ...-----` and
/// `------END ...------` lines, or the whole text when it has none.
fn undecorated(text: &str) -> String {
    let mut lines = text.lines().map(str::trim);
    if text.contains("-----BEGIN") {
        if let Some(jwt) = lines
            .by_ref()
            .skip_while(|l| !l.starts_with("-----BEGIN"))
            .nth(1)
        {
            return jwt.to_string();
        }
    }
    text.trim().to_string()
}

/// `trusted_keys`: operator public keys trusted without operator JWTs.
pub(crate) fn trusted_keys(item: &Item, o: &mut OperatorOptions, r: &mut Report) {
    let Some(keys) = r.take(read::strings(item, "trusted_keys")) else {
        return;
    };
    for k in keys {
        if jwt::KeyKind::Operator.is(&k) {
            o.trusted_keys.push(k);
        } else {
            r.error(
                item,
                format!("trust key {k:?} required to be a valid public operator nkey"),
            );
        }
    }
}

/// `resolver: MEMORY` is served; the URL and directory resolvers fetch or
/// keep accounts in ways not built yet, so they stop the start.
pub(crate) fn resolver(item: &Item, o: &mut OperatorOptions, r: &mut Report) {
    match &item.value {
        Value::String(s) => {
            let t = s.trim().to_ascii_uppercase();
            if t == "MEM" || t == "MEMORY" {
                o.memory_resolver = Some(item.pos.clone());
            } else if t.starts_with("URL(") {
                r.unenforced(item, "\"resolver\" URL(...) (accounts fetched from a server)");
            } else {
                r.error(item, "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])");
            }
        }
        Value::Map(_) => r.unenforced(item, "a \"resolver\" directory (full or cache)"),
        Value::Integer(_) => r.error(item, "error parsing operator resolver, wrong type int64"),
        _ => r.error(item, "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])"),
    }
}

/// `resolver_preload { <account public key>: <account JWT> }`.
pub(crate) fn preload(item: &Item, o: &mut OperatorOptions, r: &mut Report) {
    let Value::Map(m) = &item.value else {
        r.error(
            item,
            "preload should be a map of account_public_key:account_jwt",
        );
        return;
    };
    for e in m.entries() {
        let Value::String(token) = &e.item.value else {
            r.error(&e.item, "preload map value should be a string JWT");
            continue;
        };
        match jwt::decode::<jwt::Account>(token) {
            Ok(claims) => o.preload.push((e.key.clone(), claims, e.item.pos.clone())),
            Err(_) => r.error(&e.item, "invalid account JWT"),
        }
    }
}
