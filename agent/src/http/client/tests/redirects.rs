//! Redirects, hop by hop: methods and bodies, cookies, credentials across hosts.

use super::*;

#[tokio::test]
async fn redirects_are_followed_hop_by_hop() {
    let srv = TestServer::start(None).await;
    let c = client();
    let hops = execute(&c, HttpRequest::new(Method::GET, srv.url("/redirect/3"))).await;
    assert_eq!(hops.len(), 4);
    let statuses: Vec<u16> = hops.iter().map(|h| h.status).collect();
    assert_eq!(statuses, vec![302, 302, 302, 200]);
    let paths: Vec<&str> = hops.iter().map(|h| h.url.path()).collect();
    assert_eq!(
        paths,
        vec!["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0"]
    );
    assert_eq!(hops[3].body, Bytes::from_static(b"done"));
    for h in &hops {
        assert_timings_sane(&h.timings);
        assert!(h.bytes_sent > 0 && h.bytes_received > 0);
    }
    // All hops ride the same keep-alive connection.
    assert_eq!(srv.connections(), 1);

    // The limit stops following and returns the redirection itself, without an error.
    let mut req = HttpRequest::new(Method::GET, srv.url("/redirect/3"));
    req.max_redirects = Some(2);
    let hops = execute(&c, req).await;
    assert_eq!(hops.len(), 3);
    let last = hops.last().unwrap();
    assert_eq!(
        (last.status, last.error.as_deref(), last.error_code),
        (302, None, 0)
    );

    let mut req = HttpRequest::new(Method::GET, srv.url("/redirect/1"));
    req.max_redirects = Some(0);
    assert_eq!(execute(&c, req).await.len(), 1);

    // The run-wide limit applies when the request sets none.
    let c1 = client_with(HttpConfig {
        max_redirects: 1,
        ..HttpConfig::default()
    });
    assert_eq!(
        execute(&c1, HttpRequest::new(Method::GET, srv.url("/redirect/3")))
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn see_other_switches_to_get_and_307_keeps_the_body() {
    let srv = TestServer::start(None).await;
    let c = client();
    let mut req = HttpRequest::new(Method::POST, srv.url("/r303"));
    req.body = Bytes::from_static(b"payload");
    req.headers
        .push(("Content-Type".into(), "text/plain".into()));
    let hops = execute(&c, req).await;
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[0].method, "POST");
    assert_eq!(hops[1].method, "GET");
    assert_eq!(hops[1].header("X-Method"), Some("GET"));
    assert!(hops[1].body.is_empty());
    assert_eq!(hops[1].header("X-Content-Type"), Some(""));

    let mut req = HttpRequest::new(Method::POST, srv.url("/r307"));
    req.body = Bytes::from_static(b"payload");
    let hops = execute(&c, req).await;
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[1].header("X-Method"), Some("POST"));
    assert_eq!(hops[1].body, Bytes::from_static(b"payload"));
}

#[tokio::test]
async fn response_cookies_are_sent_later_and_on_redirect_hops() {
    let srv = TestServer::start(None).await;
    let c = client();
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/setcookie"))).await;
    assert_eq!(ex.header("Set-Cookie"), Some("a=1; Path=/"));
    let ex = one(&c, HttpRequest::new(Method::GET, srv.url("/echo"))).await;
    assert_eq!(ex.header("X-Cookie"), Some("a=1"));
    assert_eq!(ex.request_headers["cookie"], "a=1");

    let hops = execute(
        &c,
        HttpRequest::new(Method::GET, srv.url("/cookie-redirect")),
    )
    .await;
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[1].header("X-Cookie"), Some("a=1; r=2"));

    // Cookies set through the jar API go out too. As in k6 v1.1.0, a caller Cookie header
    // goes first, then the `cookies` param, then every jar cookie, the same names included...
    c.cookie_jar()
        .set(&srv.url("/"), "manual", "m", &CookieOptions::default())
        .unwrap();
    let param = |text: &str, replaced: &[&str]| {
        Some(Arc::new(crate::http::RequestCookies {
            text: text.to_owned(),
            replaced: replaced.iter().map(|s| (*s).to_owned()).collect(),
        }))
    };
    let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
    req.headers.push(("Cookie".into(), "a=override".into()));
    req.cookies = param("r=param", &[]);
    let ex = one(&c, req).await;
    assert_eq!(
        ex.header("X-Cookie"),
        Some("a=override; r=param; a=1; r=2; manual=m")
    );
    // ...but for the jar's of a name whose param asked `replace: true`.
    let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
    req.headers.push(("Cookie".into(), "r=header".into()));
    req.cookies = param("r=param", &["r"]);
    let ex = one(&c, req).await;
    assert_eq!(
        ex.header("X-Cookie"),
        Some("r=header; r=param; a=1; manual=m")
    );
    // A redirect hop gets the param's and the jar's, not the caller's header.
    let mut req = HttpRequest::new(Method::GET, srv.url("/cookie-redirect"));
    req.headers.push(("Cookie".into(), "h=1".into()));
    req.cookies = param("p=1", &[]);
    let hops = execute(&c, req).await;
    assert_eq!(
        hops[0].request_headers["cookie"],
        "h=1; p=1; a=1; r=2; manual=m"
    );
    assert_eq!(hops[1].header("X-Cookie"), Some("p=1; a=1; r=2; manual=m"));

    // jar: false neither sends nor stores.
    let mut req = HttpRequest::new(Method::GET, srv.url("/echo"));
    req.jar = false;
    assert_eq!(one(&c, req).await.header("X-Cookie"), Some(""));

    // A script-created jar is used instead of the VU's.
    let custom = Arc::new(CookieJar::new());
    let mut req = HttpRequest::new(Method::GET, srv.url("/setcookie"));
    req.cookie_jar = Some(custom.clone());
    let before = c.cookie_jar().len();
    one(&c, req).await;
    assert_eq!(
        custom.cookies_for_url(&srv.url("/")),
        vec![("a".to_owned(), "1".to_owned())]
    );
    assert_eq!(c.cookie_jar().len(), before);
}

#[test]
fn redirect_hops_drop_credentials_across_hosts() {
    let headers: Vec<(String, String)> = vec![
        ("Authorization".into(), "secret".into()),
        ("Cookie".into(), "c=1".into()),
        ("Content-Type".into(), "text/plain".into()),
        ("Host".into(), "override".into()),
        ("X-Keep".into(), "1".into()),
    ];
    let origin = Origin {
        method: Method::POST,
        url: Url::parse("http://a.test/x").unwrap(),
        headers: headers.clone(),
    };
    let hop = Hop {
        method: Method::POST,
        url: origin.url.clone(),
        target: None,
        headers,
        body: Bytes::from_static(b"b"),
        allow_host_override: true,
        cookies: None,
    };
    let names = |h: &Hop| h.headers.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();

    // 302 to another host: GET, no body, no credentials, no body headers, no Host override.
    let next = next_hop(hop, 302, Url::parse("http://other.test/").unwrap(), &origin);
    assert_eq!(next.method, Method::GET);
    assert!(next.body.is_empty());
    assert!(!next.allow_host_override);
    assert_eq!(names(&next), vec!["X-Keep"]);

    // Back on the original host, credentials come back (derived from the original request).
    let back = next_hop(next, 302, Url::parse("http://a.test/y").unwrap(), &origin);
    assert_eq!(names(&back), vec!["Authorization", "Cookie", "X-Keep"]);

    // 308 to a subdomain keeps method, body and headers (except the Host override).
    let origin = Origin {
        method: Method::PUT,
        url: Url::parse("http://a.test/x").unwrap(),
        headers: vec![("Authorization".into(), "secret".into())],
    };
    let hop = Hop {
        method: Method::PUT,
        url: origin.url.clone(),
        target: None,
        headers: origin.headers.clone(),
        body: Bytes::from_static(b"b"),
        allow_host_override: true,
        cookies: None,
    };
    let next = next_hop(hop, 308, Url::parse("http://sub.a.test/").unwrap(), &origin);
    assert_eq!(next.method, Method::PUT);
    assert_eq!(next.body, Bytes::from_static(b"b"));
    assert_eq!(names(&next), vec!["Authorization"]);
}
