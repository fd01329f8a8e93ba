//! The `python` and `javascript` tools: programs with exact expected output through the
//! running server, `cordon exec` behaving like the interpreters, limits, escapes and
//! sessions.
//!
//! The interpreters are large (CPython ~20 MB, SpiderMonkey ~12 MB): their compiled form is
//! cached in target/e2e-cache across tests and runs, so only the first test compiles them.

use super::*;

/// A catalog with the two interpreters (and `fs`, to read what they wrote), their
/// deadline cut to 2 s so runaway programs end quickly.
fn interpreter_catalog() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for t in ["python", "javascript", "fs"] {
        let to = dir.path().join(t);
        std::fs::create_dir(&to).unwrap();
        let wasm = format!("{t}.wasm");
        let from = built_tools().join(t);
        assert!(
            from.join(&wasm).is_file(),
            "run `make components` first ({})",
            from.display()
        );
        // A hard link: the components are tens of megabytes.
        std::fs::hard_link(from.join(&wasm), to.join(&wasm))
            .or_else(|_| std::fs::copy(from.join(&wasm), to.join(&wasm)).map(|_| ()))
            .unwrap();
        let manifest = std::fs::read_to_string(from.join("tool.toml")).unwrap();
        std::fs::write(
            to.join("tool.toml"),
            manifest.replace("timeout = \"30s\"", "timeout = \"2s\""),
        )
        .unwrap();
    }
    dir
}

fn shared_cache() -> PathBuf {
    repo().join("target/e2e-cache")
}

/// A server over the interpreter catalog, sharing the compiled-component cache.
fn interpreter_server(env: &Env, tools: &Path) -> Server {
    let cache = shared_cache();
    serve_with(env, tools, &["--cache-dir", cache.to_str().unwrap()])
}

/// `(stdout, value)` of one program, or the error body.
fn run_code(server: &Server, tool: &str, code: &str) -> (u16, Value) {
    server.call(
        "POST",
        &format!("/v1/tools/{tool}/call"),
        Some(&json!({"function": "run", "arguments": {"code": code}})),
    )
}

const PYTHON_PROGRAMS: &[(&str, &str, &str)] = &[
    (
        "arithmetic",
        "print(2 + 3 * 4, 7 // 2, 7 % 3, 2 ** 10, 7 / 2)",
        "14 3 1 1024 3.5\n",
    ),
    (
        "big integers",
        "print(2 ** 100)",
        "1267650600228229401496703205376\n",
    ),
    (
        "floats",
        "print(round(0.1 + 0.2, 10), f'{3.14159:.2f}')",
        "0.3 3.14\n",
    ),
    (
        "strings",
        "s = 'Hello, World'\nprint(s.upper(), s[::-1], s.split(', '))",
        "HELLO, WORLD dlroW ,olleH ['Hello', 'World']\n",
    ),
    (
        "f-strings",
        "name, n = 'cordon', 3\nprint(f'{name!r} has {n:03d} parts')",
        "'cordon' has 003 parts\n",
    ),
    (
        "join and format",
        "print('-'.join(str(i) for i in range(5)), '{:>6}|'.format('ab'))",
        "0-1-2-3-4     ab|\n",
    ),
    (
        "json round trip",
        "import json\nd = json.loads('{\"a\": [1, 2, {\"b\": null}]}')\nprint(json.dumps(d, sort_keys=True))",
        "{\"a\": [1, 2, {\"b\": null}]}\n",
    ),
    (
        "json pretty",
        "import json\nprint(json.dumps({'k': [1, 2]}, indent=1))",
        "{\n \"k\": [\n  1,\n  2\n ]\n}\n",
    ),
    (
        "regular expressions",
        "import re\nprint(re.findall(r'\\d+', 'a1b22c333'), re.sub(r'(\\w+)@(\\w+)', r'\\2 at \\1', 'me@host'))",
        "['1', '22', '333'] host at me\n",
    ),
    (
        "regex groups",
        "import re\nm = re.match(r'(?P<y>\\d{4})-(?P<m>\\d{2})', '2026-11')\nprint(m.group('y'), m['m'])",
        "2026 11\n",
    ),
    (
        "datetime arithmetic",
        "from datetime import date, timedelta\nprint(date(2026, 11, 25) + timedelta(days=7))",
        "2026-12-02\n",
    ),
    (
        "datetime formatting",
        "from datetime import datetime\nprint(datetime(2026, 1, 2, 3, 4, 5).strftime('%Y/%m/%d %H:%M:%S %A'))",
        "2026/01/02 03:04:05 Friday\n",
    ),
    (
        "collections counter",
        "from collections import Counter\nprint(Counter('mississippi').most_common(2))",
        "[('i', 4), ('s', 4)]\n",
    ),
    (
        "collections deque and defaultdict",
        "from collections import deque, defaultdict\nd = deque([1, 2, 3]); d.rotate(1)\ng = defaultdict(list); g['x'].append(1)\nprint(list(d), dict(g))",
        "[3, 1, 2] {'x': [1]}\n",
    ),
    (
        "comprehensions",
        "print([x * x for x in range(6) if x % 2], {k: len(k) for k in ['ab', 'c']})",
        "[1, 9, 25] {'ab': 2, 'c': 1}\n",
    ),
    (
        "generators",
        "def fib():\n    a, b = 0, 1\n    while True:\n        yield a\n        a, b = b, a + b\nimport itertools\nprint(list(itertools.islice(fib(), 10)))",
        "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]\n",
    ),
    (
        "classes",
        "class P:\n    def __init__(self, x): self.x = x\n    def __repr__(self): return f'P({self.x})'\nprint(sorted([P(3), P(1)], key=lambda p: p.x))",
        "[P(1), P(3)]\n",
    ),
    (
        "dataclasses",
        "from dataclasses import dataclass\n@dataclass\nclass Pt:\n    x: int\n    y: int = 0\nprint(Pt(1), Pt(1) == Pt(1, 0))",
        "Pt(x=1, y=0) True\n",
    ),
    (
        "sorting",
        "words = ['pear', 'Apple', 'fig']\nprint(sorted(words), sorted(words, key=str.lower), sorted(words, key=len, reverse=True))",
        "['Apple', 'fig', 'pear'] ['Apple', 'fig', 'pear'] ['Apple', 'pear', 'fig']\n",
    ),
    (
        "math and statistics",
        "import math, statistics\nprint(math.gcd(48, 18), math.isqrt(99), statistics.mean([1, 2, 3, 4]), statistics.median([5, 1, 3]))",
        "6 9 2.5 3\n",
    ),
    (
        "fractions and decimals",
        "from fractions import Fraction\nfrom decimal import Decimal\nprint(Fraction(1, 3) + Fraction(1, 6), Decimal('0.1') + Decimal('0.2'))",
        "1/2 0.3\n",
    ),
    (
        "unicode",
        "s = 'naïve café 日本 🎉'\nprint(len(s), s.upper(), s.encode('utf-8')[:6])",
        "15 NAÏVE CAFÉ 日本 🎉 b'na\\xc3\\xafve'\n",
    ),
    (
        "unicode normalisation",
        "import unicodedata\nprint(unicodedata.name('é'), len(unicodedata.normalize('NFD', 'é')))",
        "LATIN SMALL LETTER E WITH ACUTE 2\n",
    ),
    (
        "exceptions caught",
        "try:\n    {}['missing']\nexcept KeyError as e:\n    print('caught', repr(e))\nfinally:\n    print('done')",
        "caught KeyError('missing')\ndone\n",
    ),
    (
        "custom exception",
        "class Oops(Exception): pass\ntry:\n    raise Oops('bad')\nexcept Oops as e:\n    print(type(e).__name__, e)",
        "Oops bad\n",
    ),
    (
        "file round trip in the workspace",
        "with open('notes.txt', 'w') as f:\n    f.write('alpha\\nbeta\\n')\nwith open('/workspace/notes.txt') as f:\n    print(f.read().splitlines())",
        "['alpha', 'beta']\n",
    ),
    (
        "pathlib and os",
        "import os, pathlib\npathlib.Path('d').mkdir()\npathlib.Path('d/x.txt').write_text('hi')\nprint(sorted(os.listdir('.')), pathlib.Path('d/x.txt').read_text())",
        "['d'] hi\n",
    ),
    (
        "csv",
        "import csv, io\nbuf = io.StringIO()\ncsv.writer(buf).writerows([['a', 'b'], [1, 'x,y']])\nprint(buf.getvalue().replace('\\r\\n', '|'))",
        "a,b|1,\"x,y\"|\n",
    ),
    (
        "hashing and base64",
        "import hashlib, base64\nprint(hashlib.sha256(b'abc').hexdigest()[:16], base64.b64encode(b'cordon').decode())",
        "ba7816bf8f01cfea Y29yZG9u\n",
    ),
    (
        "textwrap and string",
        "import textwrap, string\nprint(textwrap.wrap('the quick brown fox jumps', 10), string.ascii_lowercase[:5])",
        "['the quick', 'brown fox', 'jumps'] abcde\n",
    ),
    (
        "stdin",
        "import sys\nprint(sys.stdin.read() == '')",
        "True\n",
    ),
    (
        "stderr",
        "import sys\nprint('out')\nprint('err', file=sys.stderr)",
        "out\n",
    ),
];

#[test]
fn python_programs_print_exactly_what_cpython_prints() {
    let env = Env::new();
    let tools = interpreter_catalog();
    let server = interpreter_server(&env, tools.path());
    assert!(PYTHON_PROGRAMS.len() >= 30);
    for (name, code, expected) in PYTHON_PROGRAMS {
        let (status, v) = run_code(&server, "python", code);
        assert_eq!(status, 200, "{name}: {v}");
        assert_eq!(v["value"]["error"], Value::Null, "{name}: {v}");
        assert_eq!(v["stdout"].as_str().unwrap(), *expected, "{name}");
    }
    // A trailing expression is the result, as in a notebook cell; stderr is kept apart.
    let (_, v) = run_code(&server, "python", "x = 6\nx * 7");
    assert_eq!(v["value"]["result"], "42");
    let (_, v) = run_code(
        &server,
        "python",
        "import sys\nprint('err', file=sys.stderr)",
    );
    assert_eq!(v["stderr"], "err\n");
    // An uncaught exception: type, message and a traceback of the program's own frames.
    let (status, v) = run_code(&server, "python", "def f(x):\n    return 1 / x\n\nf(0)");
    assert_eq!(status, 200, "{v}");
    let error = &v["value"]["error"];
    assert_eq!(error["kind"], "ZeroDivisionError");
    assert_eq!(error["message"], "division by zero");
    let traceback = error["traceback"].as_str().unwrap();
    assert!(
        traceback.starts_with(
            "Traceback (most recent call last):\n  File \"<cell>\", line 4, in <module>\n"
        ),
        "{traceback}"
    );
    assert!(traceback.contains("line 2, in f\n"), "{traceback}");
    assert!(
        !traceback.contains("app.py"),
        "the runner's frames are not shown: {traceback}"
    );
    let (_, v) = run_code(&server, "python", "def broken(:\n  pass");
    assert_eq!(v["value"]["error"]["kind"], "SyntaxError");
}

const JS_PROGRAMS: &[(&str, &str, &str)] = &[
    (
        "arithmetic",
        "console.log(2 + 3 * 4, 7 % 3, 2 ** 10, 7 / 2)",
        "14 1 1024 3.5\n",
    ),
    (
        "bigint",
        "console.log((2n ** 100n).toString())",
        "1267650600228229401496703205376\n",
    ),
    (
        "strings",
        "const s = 'Hello, World'; console.log(s.toUpperCase(), [...s].reverse().join(''))",
        "HELLO, WORLD dlroW ,olleH\n",
    ),
    (
        "template literals",
        "const n = 3; console.log(`${'cordon'} has ${String(n).padStart(3, '0')} parts`)",
        "cordon has 003 parts\n",
    ),
    (
        "json round trip",
        "const d = JSON.parse('{\"a\":[1,2,{\"b\":null}]}'); console.log(JSON.stringify(d))",
        "{\"a\":[1,2,{\"b\":null}]}\n",
    ),
    (
        "json pretty",
        "console.log(JSON.stringify({k: [1, 2]}, null, 1))",
        "{\n \"k\": [\n  1,\n  2\n ]\n}\n",
    ),
    (
        "regular expressions",
        "console.log('a1b22c333'.match(/\\d+/g).join(','), 'me@host'.replace(/(\\w+)@(\\w+)/, '$2 at $1'))",
        "1,22,333 host at me\n",
    ),
    (
        "named groups",
        "const m = '2026-11'.match(/(?<y>\\d{4})-(?<m>\\d{2})/); console.log(m.groups.y, m.groups.m)",
        "2026 11\n",
    ),
    (
        "dates in UTC",
        "const d = new Date(Date.UTC(2026, 10, 25)); d.setUTCDate(d.getUTCDate() + 7); console.log(d.toISOString())",
        "2026-12-02T00:00:00.000Z\n",
    ),
    (
        "map, filter, reduce",
        "console.log([1,2,3,4,5].filter(x => x % 2).map(x => x * x).reduce((a, b) => a + b, 0))",
        "35\n",
    ),
    (
        "classes",
        "class P { constructor(x) { this.x = x } toString() { return `P(${this.x})` } }\nconsole.log([new P(3), new P(1)].sort((a, b) => a.x - b.x).join(' '))",
        "P(1) P(3)\n",
    ),
    (
        "Map and Set",
        "const m = new Map([['a', 1]]); m.set('b', 2); console.log([...m.keys()].join(), new Set([1, 1, 2]).size)",
        "a,b 2\n",
    ),
    (
        "generators",
        "function* fib() { let [a, b] = [0, 1]; for (;;) { yield a; [a, b] = [b, a + b] } }\nconst out = []; for (const x of fib()) { if (out.length === 10) break; out.push(x) }\nconsole.log(out.join(' '))",
        "0 1 1 2 3 5 8 13 21 34\n",
    ),
    (
        "exceptions caught",
        "try { null.x } catch (e) { console.log('caught', e.constructor.name) } finally { console.log('done') }",
        "caught TypeError\ndone\n",
    ),
    (
        "unicode",
        "const s = 'naïve café 日本 🎉'; console.log([...s].length, s.length, s.toUpperCase(), s.codePointAt(14).toString(16))",
        "15 16 NAÏVE CAFÉ 日本 🎉 1f389\n",
    ),
    (
        "stdin global",
        "console.log(typeof stdin, stdin.length)",
        "string 0\n",
    ),
];

#[test]
fn javascript_programs_print_exactly_what_the_engine_prints() {
    let env = Env::new();
    let tools = interpreter_catalog();
    let server = interpreter_server(&env, tools.path());
    assert!(JS_PROGRAMS.len() >= 15);
    for (name, code, expected) in JS_PROGRAMS {
        let (status, v) = run_code(&server, "javascript", code);
        assert_eq!(status, 200, "{name}: {v}");
        assert_eq!(v["value"]["error"], Value::Null, "{name}: {v}");
        assert_eq!(v["stdout"].as_str().unwrap(), *expected, "{name}");
    }
    let (_, v) = run_code(&server, "javascript", "const x = 6; x * 7");
    assert_eq!(v["value"]["result"], "42");
    let (_, v) = run_code(&server, "javascript", "console.error('err')");
    assert_eq!(v["stderr"], "err\n");
    let (_, v) = run_code(&server, "javascript", "function f() { null.x }\nf()");
    let error = &v["value"]["error"];
    assert_eq!(error["kind"], "TypeError");
    let trace = error["traceback"].as_str().unwrap();
    assert!(trace.contains("at f (<input>:1:"), "{trace}");
}

/// `cordon exec` over `tools`, with the shared compile cache.
fn exec(env: &Env, tools: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = env
        .cordon()
        .env("CORDON_TOOLS_DIR", tools)
        .env("CORDON_CACHE_DIR", shared_cache())
        .arg("exec")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn cordon_exec_behaves_like_the_interpreters() {
    let env = Env::new();
    let tools = interpreter_catalog();
    let exec = |args: &[&str], stdin: &str| exec(&env, tools.path(), args, stdin);
    let out = exec(
        &[
            "python",
            "-c",
            "import json,sys; print(json.dumps({\"ok\": sum(range(10))}))",
        ],
        "",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"ok\": 45}\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());

    // stdin reaches the program; stderr stays stderr.
    let out = exec(
        &[
            "python",
            "-c",
            "import sys; d = sys.stdin.read(); print(d.upper()); print('e', file=sys.stderr)",
        ],
        "piped",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "e\n");

    // A file, and the program from stdin with `-`.
    let script = env.ws.path().join("script.py");
    std::fs::write(&script, "print('from a file')\n").unwrap();
    let out = exec(&["python", script.to_str().unwrap()], "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from a file\n");
    let out = exec(&["js", "-"], "console.log(6 * 7)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "42\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = exec(
        &["js", "-e", "console.log([1,2,3].map(x => x * 2).join(' '))"],
        "",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 4 6\n");

    // An exception: what was printed first, then the traceback on stderr, exit 1.
    let out = exec(
        &["python", "-c", "print('before')\nraise ValueError('nope')"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "before\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Traceback (most recent call last):"),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("ValueError: nope"), "{stderr}");
    let out = exec(&["js", "-e", "throw new RangeError('too far')"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("RangeError: too far"));

    // A limit: the host's coded error on stderr and the limit status.
    let out = exec(&["python", "-c", "while True: pass"], "");
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(error_json(&out)["code"], "deadline_exceeded");
}

#[test]
fn limits_stop_runaway_programs_with_their_own_codes() {
    let env = Env::new();
    let tools = interpreter_catalog();
    let server = interpreter_server(&env, tools.path());
    let cases = [
        ("python", "while True: pass", "deadline_exceeded", 408),
        // 1.2 GB of list. (On wasm32 CPython itself refuses a list over 2 GB with
        // MemoryError, and 10 GB with OverflowError, before asking the host for memory.)
        ("python", "x = [0] * (3 * 10 ** 8)", "memory_limit", 422),
        // 100 MB printed. (10**9 would be a 1 GB string: memory_limit before any output.)
        ("python", "print('x' * 10 ** 8)", "output_limit", 422),
        ("python", "print('x' * 10 ** 9)", "memory_limit", 422),
        ("javascript", "for (;;) {}", "deadline_exceeded", 408),
        (
            "javascript",
            "console.log('x'.repeat(10 ** 8))",
            "output_limit",
            422,
        ),
    ];
    // Tenant `local` has fuel to spare (policy data), so the deadline is what stops a loop.
    let local = create_token(&env, "local", "developer");
    for (tool, code, expected, status) in cases {
        let body = json!({"function": "run", "arguments": {"code": code}});
        let path = format!("/v1/tools/{tool}/call");
        let (got, v) = http(&server.addr, "POST", &path, Some(&body), Some(&local));
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (status, Some(expected)),
            "{tool}: {code}: {v}"
        );
    }
    // The server is fine afterwards.
    let (status, v) = run_code(&server, "python", "print(1 + 1)");
    assert_eq!((status, v["stdout"].as_str()), (200, Some("2\n")));
}

#[test]
fn escapes_fail_inside_python_and_the_ones_the_host_sees_are_counted() {
    let env = Env::new();
    let tools = interpreter_catalog();
    let server = interpreter_server(&env, tools.path());
    let ordinary_errors = [
        (
            "open('/etc/passwd')",
            ["FileNotFoundError", "PermissionError", "OSError"],
        ),
        (
            "import os\nos.listdir('/')",
            ["FileNotFoundError", "PermissionError", "OSError"],
        ),
        (
            "import socket\nsocket.socket().connect(('127.0.0.1', 80))",
            ["OSError", "PermissionError", "ModuleNotFoundError"],
        ),
    ];
    for (code, kinds) in ordinary_errors {
        let (status, v) = run_code(&server, "python", code);
        assert_eq!(status, 200, "{code}: {v}");
        let kind = v["value"]["error"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(kinds.contains(&kind.as_str()), "{code}: {v}");
    }
    // Climbing out of the workspace reaches the host's guard: refused and counted.
    let (_, v) = run_code(
        &server,
        "python",
        "open('/workspace/../../etc/passwd').read()",
    );
    let error = &v["value"]["error"];
    assert!(
        error["kind"] == "PermissionError" || v["error"]["code"] == "path_escape",
        "{v}"
    );
    let (_, metrics) = http(&server.addr, "GET", "/metrics", None, None);
    let counted: u64 = metrics
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("cordon_sandbox_escape_attempts_total{kind=\"path_traversal\"} ")
        })
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(counted >= 1, "the traversal was counted");

    // The schema callers see offers `session` for a tool with a workspace.
    let (_, tool) = server.call("GET", "/v1/tools/python", None);
    let schema = &tool["functions"][0]["input_schema"];
    assert_eq!(
        schema["properties"]["session"]["type"], "string",
        "{schema}"
    );
    assert_eq!(schema["required"], json!(["code"]));
}

#[test]
fn sessions_keep_files_between_calls_within_a_tenant_only() {
    let env = Env::new();
    let tools = interpreter_catalog();
    let server = interpreter_server(&env, tools.path());
    let call = |token: &str, tool: &str, args: Value| {
        http(
            &server.addr,
            "POST",
            &format!("/v1/tools/{tool}/call"),
            Some(&json!({"function": "run", "arguments": args})),
            Some(token),
        )
    };
    let write = json!({"code": "open('state.json', 'w').write('{\"n\": 41}')", "session": "s1"});
    let (status, v) = call(&server.token, "python", write);
    assert_eq!(status, 200, "{v}");
    let read =
        json!({"code": "import json\njson.load(open('state.json'))['n'] + 1", "session": "s1"});
    let (_, v) = call(&server.token, "python", read.clone());
    assert_eq!(v["value"]["result"], "42", "{v}");
    // Another session, or no session: a fresh workspace.
    let (_, v) = call(
        &server.token,
        "python",
        json!({"code": "import os\nos.listdir('.')", "session": "s2"}),
    );
    assert_eq!(v["value"]["result"], "[]");
    let (_, v) = call(
        &server.token,
        "python",
        json!({"code": "import os\nos.listdir('.')"}),
    );
    assert_eq!(v["value"]["result"], "[]");
    // Another tenant naming the same session sees nothing of it.
    let other = create_token(&env, "globex", "developer");
    let (_, v) = call(&other, "python", read);
    assert_eq!(v["value"]["error"]["kind"], "FileNotFoundError", "{v}");
    // Malformed session ids are refused before anything runs.
    let (status, v) = call(
        &server.token,
        "python",
        json!({"code": "1", "session": "../s1"}),
    );
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (400, json!("bad_request"))
    );
}

#[test]
fn the_python_tool_answers_over_mcp_too() {
    let env = Env::new();
    let tools = interpreter_catalog();
    let server = interpreter_server(&env, tools.path());
    let url = format!("http://{}/mcp", server.addr);
    let calls = json!([["python", {"code": "import json,sys; print(json.dumps({\"ok\": sum(range(10))}))"}]]);
    let report =
        super::mcp::python_client_with(&env, tools.path(), &calls, &["http", &url, &server.token]);
    let call = &report["calls"][0];
    assert_eq!(call["is_error"], false, "{call}");
    assert!(
        call["text"].as_str().unwrap().contains("{\"ok\": 45}"),
        "{call}"
    );
}
