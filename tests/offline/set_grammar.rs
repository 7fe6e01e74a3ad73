//! Table tests for the `--set` grammar and the values builder (merge order, checks, limits).

use runnerctl::values::{
    Error, MAX_LIST_INDEX, MAX_LIST_SLOTS, MAX_NESTING_DEPTH, MAX_REPORTED_UNKNOWN_KEYS,
    MAX_SET_EXPR_BYTES, MAX_VALUES_FILE_BYTES, Values, ValuesBuilder, parse_set_file_arg,
};
use serde_json::{Value, json};

fn build(b: ValuesBuilder) -> (Values, Vec<String>) {
    let (v, w) = b.build().unwrap_or_else(|e| panic!("build failed: {e}"));
    (v, w.into_iter().map(|w| w.message).collect())
}

fn err(b: ValuesBuilder) -> String {
    match b.build() {
        Ok((v, _)) => panic!("expected an error, got {}", v.as_json()),
        Err(e) => e.to_string(),
    }
}

/// `--set` rows: expression, key to look at, expected value there (`None` = key absent).
#[test]
fn set_grammar_table() {
    let rows: Vec<(&str, &str, Option<Value>)> = vec![
        ("a=b", "a", Some(json!("b"))),
        ("a.b=c", "a", Some(json!({"b": "c"}))),
        ("a.b.c=d", "a", Some(json!({"b": {"c": "d"}}))),
        ("a=b,c=d", "c", Some(json!("d"))),
        ("a.b=1,a.c=2", "a", Some(json!({"b": 1, "c": 2}))),
        ("a=", "a", Some(json!(""))),
        ("a=true", "a", Some(json!(true))),
        ("a=FALSE", "a", Some(json!(false))),
        ("a=0", "a", Some(json!(0))),
        ("a=42", "a", Some(json!(42))),
        ("a=-7", "a", Some(json!(-7))),
        ("a=007", "a", Some(json!("007"))),
        ("a=1.5", "a", Some(json!("1.5"))),
        ("a=1e3", "a", Some(json!("1e3"))),
        (
            "a=9223372036854775807",
            "a",
            Some(json!(9_223_372_036_854_775_807_i64)),
        ),
        (
            "a=9223372036854775808",
            "a",
            Some(json!("9223372036854775808")),
        ),
        ("a=null", "a", None),
        ("a=Null", "a", None),
        ("a=b=c", "a", Some(json!("b=c"))),
        ("a=b\\,c", "a", Some(json!("b,c"))),
        ("a\\.b=c", "a.b", None),
        ("a\\.b=c", "a\\.b", Some(json!("c"))),
        ("a\\=b=c", "a\\=b", Some(json!("c"))),
        ("a=\\\\x", "a", Some(json!("\\x"))),
        ("a={x,y}", "a", Some(json!(["x", "y"]))),
        ("a={1,true,null,s}", "a", Some(json!([1, true, null, "s"]))),
        ("a={}", "a", Some(json!([]))),
        ("a={x\\,y,z}", "a", Some(json!(["x,y", "z"]))),
        ("a={x},b=c", "b", Some(json!("c"))),
        ("a[0]=x", "a", Some(json!(["x"]))),
        ("a[2]=x", "a", Some(json!([null, null, "x"]))),
        ("a[0].b=c", "a", Some(json!([{"b": "c"}]))),
        (
            "a[0].b=c,a[0].d=e",
            "a",
            Some(json!([{"b": "c", "d": "e"}])),
        ),
        ("a[1][0]=x", "a", Some(json!([null, ["x"]]))),
        ("a.b[0]=1,a.b[1]=2", "a", Some(json!({"b": [1, 2]}))),
        ("a[0]={x,y}", "a", Some(json!([["x", "y"]]))),
        ("a=b,", "a", Some(json!("b"))),
        ("a= spaced ", "a", Some(json!(" spaced "))),
        ("a=x,a=y", "a", Some(json!("y"))),
        ("a.b=c,a=d", "a", Some(json!("d"))),
        ("a=d,a.b=c", "a", Some(json!({"b": "c"}))),
        ("ünï.cödé=✓", "ünï", Some(json!({"cödé": "✓"}))),
    ];
    assert!(rows.len() >= 30);
    for (expr, key, want) in rows {
        let (v, _) = build(ValuesBuilder::new().set(expr));
        assert_eq!(
            v.get(key).cloned(),
            want,
            "--set {expr:?}, looking at {key:?}"
        );
    }
}

/// `--set` error rows: expression, expected substring of the message.
#[test]
fn set_grammar_errors() {
    let rows = [
        (
            "a.b",
            "--set \"a.b\": key \"a.b\" has no value; use key=value",
        ),
        ("a", "key \"a\" has no value"),
        (
            "a,b=c",
            "key \"a\" has no value; use key=value (at character 2)",
        ),
        ("a=b,,c=d", "empty pair"),
        ("=x", "empty key name before '='"),
        (".a=x", "empty key name before '.'"),
        ("a..b=x", "expected a key name after '.'"),
        ("a.=x", "expected a key name after '.'"),
        ("[0]=x", "a list index needs a key before it"),
        ("a[]=x", "empty list index"),
        ("a[x]=1", "unexpected 'x' in a list index"),
        ("a[-1]=1", "unexpected '-' in a list index"),
        ("a[0", "list index not closed"),
        ("a[0]x=1", "unexpected 'x' after ']'"),
        ("a[0]", "key \"a[0]\" has no value"),
        ("a={x,y", "list not closed: expected '}'"),
        ("a={x}y", "unexpected 'y' after '}'"),
        ("a]=1", "unexpected ']'"),
    ];
    for (expr, want) in rows {
        let msg = err(ValuesBuilder::new().set(expr));
        assert!(
            msg.contains(want),
            "--set {expr:?}: got {msg:?}, want {want:?}"
        );
    }
}

#[test]
fn set_string_keeps_strings() {
    let (v, _) =
        build(ValuesBuilder::new().set_string("a=true,b=10,c=null,d={1,x},e=007,image.tag=18.9"));
    assert_eq!(v.get("a"), Some(&json!("true")));
    assert_eq!(v.get("b"), Some(&json!("10")));
    assert_eq!(v.get("c"), Some(&json!("null")));
    assert_eq!(v.get("d"), Some(&json!(["1", "x"])));
    assert_eq!(v.get("e"), Some(&json!("007")));
    assert_eq!(v.get("image.tag"), Some(&json!("18.9")));
}

#[test]
fn set_json_values() {
    let (v, _) = build(
        ValuesBuilder::new()
            .set_json(r#"a.b={"x":1,"y":[true,null]},c=[1,"two"],d="s,t",e=3.5"#)
            .set_json("tolerations=[{\"key\":\"k\",\"operator\":\"Exists\"}]"),
    );
    assert_eq!(v.get("a"), Some(&json!({"b": {"x": 1, "y": [true, null]}})));
    assert_eq!(v.get("c"), Some(&json!([1, "two"])));
    assert_eq!(v.get("d"), Some(&json!("s,t")));
    assert_eq!(v.get("e"), Some(&json!(3.5)));
    assert_eq!(v.get("tolerations[0].operator"), Some(&json!("Exists")));
    let msg = err(ValuesBuilder::new().set_json("a={x"));
    assert!(
        msg.contains("--set-json \"a={x\": the value of \"a\" is not valid JSON"),
        "{msg}"
    );
    let msg = err(ValuesBuilder::new().set_json("a=1 x"));
    assert!(msg.contains("after the JSON value of \"a\""), "{msg}");
    let msg = err(ValuesBuilder::new().set_json("a="));
    assert!(
        msg.contains("not valid JSON") || msg.contains("no JSON value"),
        "{msg}"
    );
    // null deletes, as with --set.
    let (v, _) = build(ValuesBuilder::new().set_json("concurrent=null"));
    assert_eq!(v.get("concurrent"), None);
}

#[test]
fn set_file_sets_a_string() {
    let (v, _) = build(
        ValuesBuilder::new()
            .set_file("runners.config", "[[runners]]\n  name = \"x\"\n")
            .set_file("preEntrypointScript", "echo 1,2=3"),
    );
    assert_eq!(
        v.get("runners.config"),
        Some(&json!("[[runners]]\n  name = \"x\"\n"))
    );
    assert_eq!(v.get("preEntrypointScript"), Some(&json!("echo 1,2=3")));
    assert_eq!(
        parse_set_file_arg("runners.config=./my config=1.toml").unwrap(),
        ("runners.config".to_owned(), "./my config=1.toml".to_owned())
    );
    assert_eq!(
        parse_set_file_arg("a\\=b=p").unwrap(),
        ("a\\=b".to_owned(), "p".to_owned())
    );
    for (arg, want) in [
        ("nokey", "expected key=path"),
        ("=p", "empty key"),
        ("k=", "empty path"),
        ("a..b=p", "expected a key name"),
    ] {
        let msg = parse_set_file_arg(arg).unwrap_err().to_string();
        assert!(msg.contains(want), "{arg:?}: {msg}");
        assert!(msg.starts_with("--set-file"), "{msg}");
    }
}

#[test]
fn null_deletes_keys_from_defaults() {
    let (v, _) =
        build(ValuesBuilder::new().set("concurrent=null,securityContext.capabilities=null"));
    assert_eq!(v.get("concurrent"), None);
    assert_eq!(v.get("securityContext.capabilities"), None);
    assert_eq!(v.get("securityContext.runAsNonRoot"), Some(&json!(true)));
    let (v, _) = build(ValuesBuilder::new().values_file("f.yaml", "image:\n  registry: null\n"));
    assert_eq!(v.get("image.registry"), None);
    assert_eq!(
        v.get("image.image"),
        Some(&json!("gitlab-org/gitlab-runner"))
    );
    // A file's null is overridden by a later --set, and the defaults below stay.
    let (v, _) = build(
        ValuesBuilder::new()
            .values_file("f.yaml", "image: null\n")
            .set("image.tag=x"),
    );
    assert_eq!(v.get("image.tag"), Some(&json!("x")));
    assert_eq!(v.get("image.registry"), Some(&json!("registry.gitlab.com")));
    // A null inside a new map the user brings is dropped.
    let (v, _) =
        build(ValuesBuilder::new().values_file("f.yaml", "podAnnotations:\n  a: null\n  b: x\n"));
    assert_eq!(v.get("podAnnotations"), Some(&json!({"b": "x"})));
}

#[test]
fn lists_replace_maps_merge() {
    let (v, _) = build(ValuesBuilder::new().values_file(
        "f.yaml",
        "rbac:\n  create: true\n  podSecurityPolicy:\n    resourceNames: [a, b]\n",
    ));
    assert_eq!(v.get("rbac.create"), Some(&json!(true)));
    assert_eq!(v.get("rbac.clusterWideAccess"), Some(&json!(false)));
    assert_eq!(v.get("rbac.podSecurityPolicy.enabled"), Some(&json!(false)));
    assert_eq!(
        v.get("rbac.podSecurityPolicy.resourceNames"),
        Some(&json!(["a", "b"]))
    );
    // Two files: the second's list replaces the first's, maps merge.
    let (v, _) = build(
        ValuesBuilder::new()
            .values_file(
                "1.yaml",
                "tolerations: [{key: a}, {key: b}]\npodLabels: {x: '1'}\n",
            )
            .values_file("2.yaml", "tolerations: [{key: c}]\npodLabels: {z: '2'}\n"),
    );
    assert_eq!(v.get("tolerations"), Some(&json!([{"key": "c"}])));
    assert_eq!(v.get("podLabels"), Some(&json!({"x": "1", "z": "2"})));
    // --set on an index edits the list the files built (helm parses --set into them).
    let (v, _) = build(
        ValuesBuilder::new()
            .values_file("1.yaml", "tolerations: [{key: a}, {key: b}]\n")
            .set("tolerations[1].key=z"),
    );
    assert_eq!(
        v.get("tolerations"),
        Some(&json!([{"key": "a"}, {"key": "z"}]))
    );
}

#[test]
fn helm_order_regardless_of_call_order() {
    let (v, _) = build(
        ValuesBuilder::new()
            .set_file("connectionMaxAge", "from-file")
            .set_string("connectionMaxAge=from-set-string")
            .set("connectionMaxAge=from-set,concurrent=2,checkInterval=7")
            .set_json("connectionMaxAge=\"from-json\",concurrent=1,sentryDsn=\"j\"")
            .values_file(
                "a.yaml",
                "connectionMaxAge: a\nconcurrent: 5\ncheckInterval: 9\nsentryDsn: x\nlogLevel: warn\n",
            )
            .values_file("b.yaml", "logLevel: debug\n"),
    );
    assert_eq!(v.get("connectionMaxAge"), Some(&json!("from-file")));
    assert_eq!(v.get("concurrent"), Some(&json!(2)));
    assert_eq!(v.get("checkInterval"), Some(&json!(7)));
    assert_eq!(v.get("sentryDsn"), Some(&json!("j")));
    assert_eq!(v.get("logLevel"), Some(&json!("debug")));
    // --set beats -f and --set-json; --set-string beats --set.
    let (v, _) = build(
        ValuesBuilder::new()
            .set_string("runners.name=s")
            .set("runners.name=t")
            .values_file("f", "runners:\n  name: f"),
    );
    assert_eq!(v.get("runners.name"), Some(&json!("s")));
    // Within one group, later wins.
    let (v, _) = build(ValuesBuilder::new().set("concurrent=1").set("concurrent=3"));
    assert_eq!(v.get("concurrent"), Some(&json!(3)));
}

#[test]
fn limits() {
    let (v, _) = build(ValuesBuilder::new().set(format!("a[{MAX_LIST_INDEX}]=x")));
    assert_eq!(
        v.get("a").and_then(Value::as_array).map(Vec::len),
        Some(MAX_LIST_INDEX + 1)
    );
    let msg = err(ValuesBuilder::new().set(format!("a[{}]=x", MAX_LIST_INDEX + 1)));
    assert!(
        msg.contains("over the limit of 65536 (MAX_LIST_INDEX)"),
        "{msg}"
    );
    let msg = err(ValuesBuilder::new().set("a[99999999999999999999999999]=x"));
    assert!(msg.contains("MAX_LIST_INDEX"), "{msg}");

    let deep_ok = vec!["k"; MAX_NESTING_DEPTH].join(".") + "=1";
    build(ValuesBuilder::new().set(deep_ok));
    let deep = vec!["k"; MAX_NESTING_DEPTH + 1].join(".") + "=1";
    let msg = err(ValuesBuilder::new().set(deep));
    assert!(msg.contains("MAX_NESTING_DEPTH"), "{msg}");

    let big = format!("a={}", "x".repeat(MAX_SET_EXPR_BYTES));
    let msg = err(ValuesBuilder::new().set(big));
    assert!(
        msg.contains("--set: ") && msg.contains("over the limit of 1048576 bytes"),
        "{msg}"
    );

    let big_file = format!("a: \"{}\"\n", "x".repeat(MAX_VALUES_FILE_BYTES));
    let msg = err(ValuesBuilder::new().values_file("big.yaml", big_file));
    assert!(
        msg.contains("values file big.yaml") && msg.contains("over the limit"),
        "{msg}"
    );

    let deep_yaml = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let msg = err(ValuesBuilder::new().values_file("deep.yaml", format!("a: {deep_yaml}\n")));
    assert!(msg.starts_with("values file deep.yaml"), "{msg}");

    let deep_json = format!(
        "a={}1{}",
        "[".repeat(MAX_NESTING_DEPTH),
        "]".repeat(MAX_NESTING_DEPTH)
    );
    let msg = err(ValuesBuilder::new().set_json(deep_json));
    assert!(msg.contains("nested deeper than 64 levels"), "{msg}");
}

/// A values file nested as deep as allowed parses on a small thread stack too (a library
/// caller's worker thread): the parser moves to a larger stack when the caller's is short.
#[test]
fn deepest_values_file_parses_on_a_small_stack() {
    let levels = MAX_NESTING_DEPTH - 1;
    let mut text = String::new();
    for i in 0..levels {
        text.push_str(&" ".repeat(i));
        text.push_str(if i + 1 == levels { "k: 1\n" } else { "k:\n" });
    }
    let parse = move || {
        let (v, _) = build(ValuesBuilder::new().values_file("deep.yaml", text));
        let mut at = v.as_json();
        let mut depth = 0;
        while let Some(next) = at.get("k") {
            at = next;
            depth += 1;
        }
        (depth, at.clone())
    };
    let small = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(parse)
        .expect("thread")
        .join()
        .expect("parsed without overflowing the small stack");
    assert_eq!(small, (levels, json!(1)));
}

/// List indexes are bounded in total, not only each: many large indexes in a few kilobytes of
/// flags are refused before the lists grow, naming the key and the limit.
#[test]
fn list_slots_are_bounded_in_total() {
    let per = MAX_LIST_INDEX + 1;
    let fit = MAX_LIST_SLOTS / per;
    assert!(fit >= 2, "room for more than one largest index");
    // As many largest indexes as fit, in several flag kinds: fine.
    let mut b = ValuesBuilder::new();
    for i in 0..fit - 1 {
        b = b.set(format!("l{i}[{MAX_LIST_INDEX}]=1"));
    }
    b = b.set_string(format!("s[{MAX_LIST_INDEX}]=x"));
    let (v, _) = build(b.clone());
    assert_eq!(
        v.get("s").and_then(Value::as_array).map(Vec::len),
        Some(per)
    );
    // Writing into lists already there creates nothing new.
    build(
        b.clone()
            .set(format!("l0[{MAX_LIST_INDEX}]=2,l0[0]=3,s[5]=y")),
    );
    // One more anywhere is refused, whatever the flag; the assignment that crosses the limit
    // is named (flags apply in helm's order, so it may be one given earlier).
    for more in [
        b.clone().set(format!("x[{MAX_LIST_INDEX}]=1")),
        b.clone().set_json(format!("x[{MAX_LIST_INDEX}]=1")),
        b.clone().set_string(format!("x[{MAX_LIST_INDEX}]=1")),
        b.clone().set_file(format!("x[{MAX_LIST_INDEX}]"), "text"),
    ] {
        let e = more.clone().build().unwrap_err();
        assert!(
            matches!(&e, Error::TooManyListSlots { path, .. }
                if path == &format!("x[{MAX_LIST_INDEX}]") || path == &format!("s[{MAX_LIST_INDEX}]")),
            "{e}"
        );
        let msg = err(more);
        assert!(
            msg.contains(&format!(
                "[{MAX_LIST_INDEX}]: list indexes would create more than {MAX_LIST_SLOTS} list entries in all (MAX_LIST_SLOTS)"
            )),
            "{msg}"
        );
    }
    // The issue's shapes: many keys with the largest index in one flag, and nested indexes.
    let many: Vec<String> = (0..300)
        .map(|i| format!("k{i}[{MAX_LIST_INDEX}]=1"))
        .collect();
    let e = ValuesBuilder::new()
        .set(many.join(","))
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, Error::TooManyListSlots { path, limit, .. }
            if path == &format!("k{fit}[{MAX_LIST_INDEX}]") && *limit == MAX_LIST_SLOTS),
        "{e}"
    );
    let nested: Vec<String> = (0..fit + 1)
        .map(|i| format!("a[{i}][{MAX_LIST_INDEX}]=1"))
        .collect();
    let msg = err(ValuesBuilder::new().set(nested.join(",")));
    assert!(msg.contains("(MAX_LIST_SLOTS)"), "{msg}");
    // Replacing a list and growing it again counts again: the limit bounds the work done.
    let again: Vec<String> = (0..fit + 1)
        .map(|_| format!("a[{MAX_LIST_INDEX}]=1,a=x"))
        .collect();
    let msg = err(ValuesBuilder::new().set(again.join(",")));
    assert!(msg.contains("(MAX_LIST_SLOTS)"), "{msg}");
}

/// A file of many unknown keys gives a bounded report: the first keys one by one (with a
/// suggestion where one is near), then one line counting the rest; strict mode alike.
#[test]
fn many_unknown_keys_are_reported_briefly() {
    let count = 100_000;
    let mut text = String::from("concurent: 3\n");
    for i in 0..count {
        text.push_str(&format!("unknownKey{i}: {i}\n"));
    }
    // Repeated in a second source: counted again there (another place), once per key.
    let (_, w) = build(
        ValuesBuilder::new()
            .values_file("many.yaml", text.clone())
            .set("concurent=4,concurent=5,zz=1"),
    );
    assert_eq!(w.len(), MAX_REPORTED_UNKNOWN_KEYS + 1, "{:?}", &w[..3]);
    assert_eq!(
        w[0],
        r#"unknown key "concurent" (from values file many.yaml:1:12); did you mean "concurrent"?"#
    );
    assert_eq!(
        w[1],
        r#"unknown key "unknownKey0" (from values file many.yaml:2:14); the chart does not read it"#
    );
    assert!(
        w[MAX_REPORTED_UNKNOWN_KEYS - 1]
            .contains(&format!("\"unknownKey{}\"", MAX_REPORTED_UNKNOWN_KEYS - 2))
    );
    // The file's other keys, then `concurent` and `zz` from --set (once each).
    let more = count + 1 - MAX_REPORTED_UNKNOWN_KEYS + 2;
    assert_eq!(
        w[MAX_REPORTED_UNKNOWN_KEYS],
        format!(
            "... and {more} more unknown keys (only the first {MAX_REPORTED_UNKNOWN_KEYS} are listed)"
        )
    );
    let e = ValuesBuilder::new()
        .strict(true)
        .values_file("many.yaml", text)
        .build()
        .unwrap_err();
    let Error::UnknownKeys { keys } = &e else {
        panic!("{e}")
    };
    assert_eq!(keys.len(), MAX_REPORTED_UNKNOWN_KEYS + 1);
    assert!(keys[MAX_REPORTED_UNKNOWN_KEYS].starts_with(&format!(
        "... and {} more unknown keys",
        count + 1 - MAX_REPORTED_UNKNOWN_KEYS
    )));
    // A very long unknown key is checked without comparing it letter by letter to every key.
    let long = "k".repeat(MAX_SET_EXPR_BYTES - 3);
    let (_, w) = build(ValuesBuilder::new().set(format!("{long}=1")));
    assert_eq!(w.len(), 1);
    assert!(
        w[0].ends_with("the chart does not read it"),
        "{}",
        &w[0][w[0].len() - 40..]
    );
}

#[test]
fn unknown_keys_warn_with_suggestion() {
    let (v, w) = build(ValuesBuilder::new().set("runners.privilegd=true"));
    assert_eq!(
        w,
        vec![
            r#"unknown key "runners.privilegd" (from --set); did you mean "runners.privileged"?"#
                .to_owned()
        ]
    );
    // The value is kept (helm keeps it too).
    assert_eq!(v.get("runners.privilegd"), Some(&json!(true)));

    let (_, w) =
        build(ValuesBuilder::new().values_file("my.yaml", "gitlabUrl: https://x\nconcurent: 3\n"));
    assert_eq!(
        w,
        vec![r#"unknown key "concurent" (from values file my.yaml:2:12); did you mean "concurrent"?"#.to_owned()]
    );
    let (_, w) = build(ValuesBuilder::new().set("sessionserver.enabled=true,privileged=true"));
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains(r#""sessionserver" (from --set); did you mean "sessionServer"?"#),
        "{w:?}"
    );
    assert!(
        w[1].contains(r#""privileged" (from --set); did you mean "runners.privileged"?"#),
        "{w:?}"
    );
    let (_, w) = build(ValuesBuilder::new().set("zzzzqqqq=1"));
    assert_eq!(
        w,
        vec![r#"unknown key "zzzzqqqq" (from --set); the chart does not read it"#.to_owned()]
    );

    // Free-form places: no warning.
    let (_, w) = build(ValuesBuilder::new().values_file(
        "ok.yaml",
        "podAnnotations: {a: b}\naffinity: {nodeAffinity: {x: 1}}\nresources: {limits: {cpu: 1}}\n\
         hpa: {minReplicas: 1, maxReplicas: 3}\nreplicas: 2\nsecurityContext: {runAsUser: 1000}\n\
         podSecurityContext: {seccompProfile: {type: RuntimeDefault}}\nlivenessProbe: {periodSeconds: 5}\n\
         runners: {privileged: true, tags: a}\nextraEnv: {FOO: bar}\n",
    ));
    assert!(w.is_empty(), "{w:?}");

    // Strict: all unknown keys in one error.
    let msg = err(ValuesBuilder::new()
        .strict(true)
        .set("runners.privilegd=true")
        .values_file("f.yaml", "imagee: x\n"));
    assert!(msg.starts_with("unknown values keys (strict mode"), "{msg}");
    assert!(
        msg.contains(r#""imagee" (from values file f.yaml:1:9); did you mean "image"?"#),
        "{msg}"
    );
    assert!(msg.contains(r#""runners.privilegd" (from --set)"#), "{msg}");
    // Strict with only known keys is fine.
    build(
        ValuesBuilder::new()
            .strict(true)
            .set("runners.privileged=true"),
    );
}

#[test]
fn deprecated_keys_warn_once() {
    let (_, w) = build(
        ValuesBuilder::new()
            .values_file("a.yaml", "runnerRegistrationToken: GR1348941secret\nrbac:\n  serviceAccountAnnotations: {a: b}\n")
            .set("runnerRegistrationToken=other"),
    );
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with(
            "deprecated registration token (runnerRegistrationToken); use runnerToken (glrt-...)"
        ),
        "{w:?}"
    );
    assert!(w[0].ends_with("(from values file a.yaml)"), "{w:?}");
    assert!(
        w[1].contains(
            "\"rbac.serviceAccountAnnotations\" is deprecated; use \"serviceAccount.annotations\""
        ),
        "{w:?}"
    );
    assert!(
        w.iter()
            .all(|m| !m.contains("GR1348941") && !m.contains("other")),
        "{w:?}"
    );
    let (_, w) = build(
        ValuesBuilder::new().set("rbac.imagePullSecrets={a},rbac.generatedServiceAccountName=x"),
    );
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("use \"serviceAccount.imagePullSecrets\""),
        "{w:?}"
    );
    assert!(w[1].contains("use \"serviceAccount.name\""), "{w:?}");
    // Empty values of deprecated keys (as in a copied chart values.yaml) are not worth a warning.
    let (_, w) = build(ValuesBuilder::new().values_file("c.yaml", "rbac: {serviceAccountAnnotations: {}, imagePullSecrets: []}\nrunnerRegistrationToken: \"\"\n"));
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn type_errors_name_key_and_source() {
    let msg =
        err(ValuesBuilder::new().values_file("my.yaml", "gitlabUrl: https://x\nconcurrent: ten\n"));
    assert_eq!(
        msg,
        r#"values file my.yaml:2:13: concurrent: expected an integer of 1 or more (default 10), got the string "ten""#
    );
    let msg = err(ValuesBuilder::new().set_string("concurrent=10"));
    assert_eq!(
        msg,
        r#"--set-string: concurrent: expected an integer of 1 or more (default 10), got the string "10""#
    );
    // A percentage goes where Kubernetes takes an integer or a percentage, nowhere else.
    let msg = err(ValuesBuilder::new().set("concurrent=50%"));
    assert_eq!(
        msg,
        r#"--set: concurrent: expected an integer of 1 or more (default 10), got the string "50%""#
    );
    ValuesBuilder::new()
        .set("runnerctl.podDisruptionBudget.maxUnavailable=50%")
        .build()
        .expect("a percentage of runner pods");
    let msg = err(ValuesBuilder::new().set("unregisterRunners=yes"));
    assert_eq!(
        msg,
        r#"--set: unregisterRunners: expected a boolean (default true), got the string "yes""#
    );
    let msg = err(ValuesBuilder::new().set("logLevel=true"));
    assert!(
        msg.contains(r#"logLevel: expected one of debug, info, warn, error, fatal, panic (default "info"), got the boolean true"#),
        "{msg}"
    );
    let msg = err(ValuesBuilder::new().set("concurrent.x=1"));
    assert!(
        msg.contains("concurrent: expected an integer of 1 or more (default 10), got a map"),
        "{msg}"
    );
    let msg = err(ValuesBuilder::new().set("rbac=true"));
    assert!(
        msg.contains("rbac: expected a map, got the boolean true"),
        "{msg}"
    );
    let msg = err(ValuesBuilder::new().set("tolerations=x"));
    assert!(
        msg.contains("tolerations: expected a list (default []), got the string \"x\""),
        "{msg}"
    );
    let msg = err(ValuesBuilder::new().values_file("f.yaml", "podAnnotations: [a]\n"));
    assert!(
        msg.contains(
            "values file f.yaml:1:17: podAnnotations: expected a map (default {}), got a list"
        ),
        "{msg}"
    );
    let msg = err(ValuesBuilder::new().values_file(
        "f.yaml",
        "securityContext:\n  capabilities:\n    drop: ALL\n",
    ));
    assert!(
        msg.contains("f.yaml:3:11: securityContext.capabilities.drop: expected a list"),
        "{msg}"
    );
    let msg = err(ValuesBuilder::new().set_json("metrics.port=9252.5"));
    assert!(
        msg.contains(
            "--set-json: metrics.port: expected an integer from 1 to 65535 (default 9252), got the number 9252.5"
        ),
        "{msg}"
    );
    // Fine: numbers typed by --set into integer keys, numbers into string keys, anything into
    // null defaults.
    let (v, _) = build(
        ValuesBuilder::new().set("concurrent=4,nameOverride=123,runners.locked=false,replicas=2"),
    );
    assert_eq!(v.get("concurrent"), Some(&json!(4)));
    assert_eq!(v.get("nameOverride"), Some(&json!(123)));
    assert_eq!(v.get("runners.locked"), Some(&json!(false)));
}

#[test]
fn secrets_never_in_messages() {
    let msg = err(ValuesBuilder::new().set_json("runnerToken={\"a\":1},concurrent=\"x\""));
    assert!(!msg.contains("\"a\""), "{msg}");
    let msg = err(ValuesBuilder::new().set("runnerToken=glrt-SECRET,oops"));
    assert!(!msg.contains("glrt-SECRET"), "{msg}");
    assert!(msg.contains("runnerToken=<redacted>"), "{msg}");
    let msg = err(ValuesBuilder::new().set("oops,glrt-SECRET"));
    assert!(!msg.contains("glrt-SECRET"), "{msg}");
    // A type error under a secret-looking key.
    let msg =
        err(ValuesBuilder::new().values_file("f.yaml", "rbac:\n  imagePullSecrets: hunter2\n"));
    assert!(!msg.contains("hunter2"), "{msg}");
    let msg = err(ValuesBuilder::new().set("rbac.create=glrt-SECRET"));
    assert!(!msg.contains("glrt-SECRET"), "{msg}");
    let (_, w) = build(ValuesBuilder::new().set("runners.tokenn=hunter2,extra.password=hunter2"));
    assert!(w.iter().all(|m| !m.contains("hunter2")), "{w:?}");
}

#[test]
fn malformed_yaml_has_line_and_column() {
    let msg = err(ValuesBuilder::new().values_file("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n"));
    assert!(msg.starts_with("values file bad.yaml:"), "{msg}");
    let rest = msg.trim_start_matches("values file bad.yaml:");
    let mut parts = rest.splitn(3, ':');
    let line: u64 = parts
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("line in {msg}"));
    let col: u64 = parts
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("column in {msg}"));
    assert!(line >= 2 && col >= 1, "{msg}");
    assert!(!parts.next().unwrap().trim().is_empty(), "{msg}");

    let msg = err(ValuesBuilder::new().values_file("tab.yaml", "a:\n  b: 1\n c: 2\n"));
    assert!(msg.starts_with("values file tab.yaml:3:"), "{msg}");

    let msg = err(ValuesBuilder::new().values_file("<stdin>", "- a\n- b\n"));
    assert_eq!(
        msg,
        "values file <stdin>: the top level is a list, but a values file must be a map of keys to values (`key: value` lines)"
    );
    let msg = err(ValuesBuilder::new().values_file("s.yaml", "just a string\n"));
    assert!(msg.contains("the top level is a string"), "{msg}");
    let msg = err(ValuesBuilder::new().values_file("dup.yaml", "a: 1\na: 2\n"));
    assert_eq!(
        msg,
        "values file dup.yaml:2:1: duplicate mapping key: a; keep only one of them"
    );

    // Empty files and comment-only files are fine.
    build(
        ValuesBuilder::new()
            .values_file("empty.yaml", "")
            .values_file("c.yaml", "# nothing\n"),
    );
}

#[test]
fn error_is_the_public_enum() {
    match ValuesBuilder::new().set("concurrent=x").build() {
        Err(Error::Type { path, expected, .. }) => {
            assert_eq!(path, "concurrent");
            assert_eq!(expected, "an integer of 1 or more");
        }
        other => panic!("{other:?}"),
    }
}

/// Fuzz-style: generated --set strings never panic, and what parses builds a tree.
#[test]
fn random_set_strings_never_panic() {
    const ALPHABET: &[char] = &[
        'a', 'b', '.', ',', '=', '[', ']', '{', '}', '\\', '0', '1', '9', 'n', 'u', 'l', ' ', 'é',
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..1500 {
        let len = (next() % 24) as usize;
        let s: String = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
            .collect();
        let _ = ValuesBuilder::new().set(s.clone()).build();
        let _ = ValuesBuilder::new().set_string(s.clone()).build();
        let _ = ValuesBuilder::new().set_json(s.clone()).build();
        let _ = ValuesBuilder::new().set_file(s.clone(), "x").build();
        let _ = ValuesBuilder::new().values_file("f", s.clone()).build();
        let _ = parse_set_file_arg(&s);
    }
}
