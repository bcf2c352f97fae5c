//! HTTP monitoring on `http_port`, as nats-server serves it, as far as it
//! is built: `/healthz` (and `/`, which lists what is served). Pure: a
//! request head in, a response out; the listener is in `net::http`.

/// An answer to one request.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: body.as_bytes().to_vec(),
        }
    }

    /// The status line's reason phrase.
    pub fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Error",
        }
    }

    /// The whole HTTP/1.1 response, the connection closed after it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// The endpoints served so far.
const SERVED: [&str; 1] = ["/healthz"];

/// Answers a request head (`GET /path?query HTTP/1.1` and its headers).
pub fn answer(head: &[u8]) -> Response {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Response::json(400, "{\"error\":\"bad request\"}");
    };
    if !version.starts_with("HTTP/1.") {
        return Response::json(400, "{\"error\":\"bad request\"}");
    }
    if method != "GET" && method != "HEAD" {
        return Response::json(405, "{\"error\":\"method not allowed\"}");
    }
    let path = target.split('?').next().unwrap_or("");
    match path.trim_end_matches('/') {
        "/healthz" => Response::json(200, "{\"status\":\"ok\"}"),
        "" => {
            let links: String = SERVED
                .iter()
                .map(|p| format!("<a href=\"{p}\">{}</a><br>\n", &p[1..]))
                .collect();
            Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: format!("<html><body>\n<h1>ringnats</h1>\n{links}</body></html>\n")
                    .into_bytes(),
            }
        }
        _ => Response::json(404, "{\"error\":\"not found\"}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_and_the_rest() {
        let ok = answer(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            (ok.status, &ok.body[..]),
            (200, &b"{\"status\":\"ok\"}"[..])
        );
        assert_eq!(
            answer(b"GET /healthz?js-enabled-only=true HTTP/1.1\r\n\r\n").status,
            200
        );
        assert_eq!(answer(b"GET / HTTP/1.1\r\n\r\n").status, 200);
        assert_eq!(answer(b"GET /varz HTTP/1.1\r\n\r\n").status, 404);
        assert_eq!(answer(b"POST /healthz HTTP/1.1\r\n\r\n").status, 405);
        assert_eq!(answer(b"garbage").status, 400);
        assert_eq!(answer(b"").status, 400);
        let bytes = ok.to_bytes();
        assert!(bytes.starts_with(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"
        ));
    }
}
