"""``lstmkit explore``: see inside the cell, step by step, in a browser.

    lstmkit explore                                  # the shipped embedded-Reber model
    lstmkit explore --experiment adding              # the shipped adding-problem model
    lstmkit explore --variant cifg --hidden-size 4   # an untrained cell; edit its weights
    lstmkit explore --model DIR                      # any lstmkit model directory
    lstmkit explore --model DIR --layer 1 --direction backward   # another layer / direction
    lstmkit explore --input "BTSSXXTVVETE" --export page.html   # one self-contained file
    lstmkit explore --train reber --out DIR          # retrain a shipped model

Serves the page from the standard library's HTTP server on 127.0.0.1 only and prints
its address; Ctrl-C stops it. The page and its JavaScript ship inside the package: it
works offline.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from .options import add_common, apply_threads, nonneg_int, positive_int, threads_parent

HOST = "127.0.0.1"
_MAX_BODY = 1 << 20


def make_subject(args):
    """The subject the options name (default: the shipped embedded-Reber model), shown
    first at ``--layer`` / ``--direction`` where given."""
    from ..apps.explore import check_choice, experiment_subject, model_subject, variant_subject

    if args.model is not None:
        s = model_subject(args.model, seed=args.seed)
    elif args.variant is not None:
        s = variant_subject(args.variant, input_size=args.input_size, hidden_size=args.hidden_size, seed=args.seed)
    else:
        s = experiment_subject(args.experiment or "reber")
    layer = s.show[0] if getattr(args, "layer", None) is None else args.layer
    direction = s.show[1] if getattr(args, "direction", None) is None else args.direction
    try:
        s.show = check_choice(s.layer, layer, direction)
    except ValueError as e:  # "layer must ..." -> "--layer must ..."
        raise ValueError(f"--{e}") from None
    return s


def make_server(session, port: int = 0, text: str | None = None) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:``port`` (0: any free port) serving the live page of
    ``session`` (:class:`lstmkit.apps.explore.Session`) at ``/`` and its runs at
    ``/api/run`` (GET ``?variant=&input=&layer=&direction=``, or POST JSON ``{"variant",
    "input", "weights", "layer", "direction"}``; no layer: the subject's first).
    Not started: call ``serve_forever()``.
    """
    from ..viz.explore import render_page

    lock = threading.Lock()
    first = session.run("", text)
    page = render_page({"": first}, "", live=True).encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        server_version = "lstmkit-explore"

        def log_message(self, format, *args):  # quiet: the terminal shows the address only
            pass

        def _send(self, status, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status, obj) -> None:
            self._send(status, json.dumps(obj, allow_nan=False).encode("utf-8"), "application/json")

        def _run(self, req: dict) -> None:
            try:
                variant = req.get("variant", "") or ""
                text = req.get("input")
                if text is not None and not isinstance(text, str):
                    raise TypeError("input must be a str")
                layer, direction = req.get("layer"), req.get("direction")
                if isinstance(layer, str):  # a query string's
                    try:
                        layer = int(layer)
                    except ValueError:
                        raise ValueError(f"layer must be an int, got {layer!r}") from None
                if isinstance(direction, str) and direction.isdigit():
                    direction = int(direction)
                with lock:
                    out = session.run(variant, text, req.get("weights"), layer, direction)
                body = json.dumps(out, allow_nan=False)
            except (ValueError, TypeError) as e:
                self._json(HTTPStatus.BAD_REQUEST, {"error": " ".join(str(e).split())})
                return
            except Exception as e:  # the page shows one line, never a hung request
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR,
                           {"error": f"internal error ({type(e).__name__}: {' '.join(str(e).split())})"})
                return
            self._send(HTTPStatus.OK, body.encode("utf-8"), "application/json")

        def do_GET(self):
            url = urlparse(self.path)
            if url.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            elif url.path == "/api/run":
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                self._run({"variant": q.get("variant", ""), "input": q.get("input"), "layer": q.get("layer"),
                           "direction": q.get("direction")})
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {url.path}"})

        def do_POST(self):
            if urlparse(self.path).path != "/api/run":
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {self.path}"})
                return
            n = int(self.headers.get("Content-Length") or 0)
            if not 0 < n <= _MAX_BODY:
                self._json(HTTPStatus.BAD_REQUEST, {"error": f"expected a JSON body of at most {_MAX_BODY} bytes"})
                return
            try:
                req = json.loads(self.rfile.read(n))
            except ValueError:
                self._json(HTTPStatus.BAD_REQUEST, {"error": "the body is not JSON"})
                return
            if not isinstance(req, dict):
                self._json(HTTPStatus.BAD_REQUEST, {"error": "the body must be a JSON object"})
                return
            self._run(req)

    try:
        return ThreadingHTTPServer((HOST, port), Handler)
    except OSError as e:
        raise ValueError(f"--port {port}: cannot listen on {HOST}:{port} ({e.strerror or e}); "
                         f"pick another port (--port 0: any free one)") from None


def export_page(session, path, text: str | None = None) -> Path:
    """Write the self-contained page of ``session`` (every switcher choice run on
    ``text``) to ``path``; an existing file is refused (nothing is overwritten)."""
    from ..io import atomic_write_text
    from ..viz.explore import render_page

    p = Path(path)
    if p.exists():
        raise ValueError(f"--export: {p} exists; lstmkit does not overwrite it (remove it or pick another name)")
    if p.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--export: expected a file name ending in .html, got {p.name!r}")
    page = render_page(session.export_runs(text), "", live=False)
    if p.exists():  # written meanwhile by someone else: still refuse
        raise ValueError(f"--export: {p} exists; lstmkit does not overwrite it")
    atomic_write_text(p, page)
    return p


def _cmd(args) -> int:
    from ..apps.explore import Session, train_shipped

    apply_threads(args)
    if args.train is not None:
        if args.out is None:
            raise ValueError("--train needs --out DIR (the model directory to write)")
        train_shipped(args.train, args.out, seed=args.seed, overwrite_shipped=args.overwrite_shipped)
        print(f"written: {args.out}")
        return 0
    chosen = [o for o, v in (("--model", args.model), ("--experiment", args.experiment), ("--variant", args.variant))
              if v is not None]
    if len(chosen) > 1:
        raise ValueError(f"pass one of --model, --experiment, --variant; got {' and '.join(chosen)}")
    session = Session(make_subject(args), seed=args.seed)
    if args.export is not None:
        p = export_page(session, args.export, args.input)
        print(f"written: {p} ({p.stat().st_size // 1024} KiB, self-contained: open it in any browser)")
        return 0
    server = make_server(session, args.port, args.input)
    host, port = server.server_address[:2]
    print(f"lstmkit explore: serving {session.base.title} at http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("lstmkit explore: stopped", flush=True)
    finally:
        server.server_close()
    return 0


def register(sub) -> None:
    p = sub.add_parser("explore", help="see every gate and the cell state step by step, in a browser page",
                       description=__doc__.split("\n\n")[0], parents=[threads_parent()])
    what = p.add_argument_group("what to look at (one; default --experiment reber)")
    add_common(what, "model", help="an lstmkit model directory")
    what.add_argument("--experiment", choices=("reber", "adding"),
                      help="a shipped trained classic-task model: embedded Reber or the adding problem")
    what.add_argument("--variant", metavar="NAME",
                      help="an untrained cell whose weights the page can edit: an LSTM preset (vanilla, cifg, "
                           "nfg, ...), gru, rnn, or another registered family (conv_lstm: on 8x8 frames of a "
                           "moving square, 'square ROW COL DROW DCOL STEPS')")
    p.add_argument("--input", metavar="TEXT",
                   help="the input sequence: symbols ('BTSSXXTVVETE') or steps of numbers split by ';' "
                        "('0.5 1; -0.2 0'); default: the first example")
    p.add_argument("--hidden-size", "--hidden", dest="hidden_size", type=positive_int, default=4,
                   help="units of a --variant cell (default 4)")
    p.add_argument("--input-size", dest="input_size", type=positive_int, default=2,
                   help="input features (a conv_lstm's input channels) of a --variant cell (default 2)")
    p.add_argument("--layer", type=nonneg_int, default=None,
                   help="which layer of a stacked model to show first (default 0; the page can switch)")
    p.add_argument("--direction", choices=("forward", "backward"), default=None,
                   help="which direction of a bidirectional model to show first (default forward)")
    add_common(p, "seed", help="seed of untrained weights and examples (default 0)")
    p.add_argument("--port", type=nonneg_int, default=8000, help="port on 127.0.0.1 (default 8000; 0: any free one)")
    p.add_argument("--export", metavar="PAGE.html", help="write one self-contained HTML file instead of serving")
    p.add_argument("--train", choices=("reber", "adding"),
                   help="train the small model that ships for this task and write it to --out")
    p.add_argument("--out", metavar="DIR", help="with --train: the model directory to write")
    p.add_argument("--overwrite-shipped", action="store_true",
                   help="with --train: allow --out inside the package's pretrained/ (maintainers)")
    p.set_defaults(func=_cmd)
