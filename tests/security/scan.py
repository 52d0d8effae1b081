"""Static scans of the tracked files: default/empty/literal credentials, no_log on secrets.

Pure functions over text, used by test_static.py (and tested there on
known-bad snippets, so a scan that matches nothing cannot pass unnoticed).
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

# Values that are someone's default or placeholder credential.
DEFAULT_WORDS = re.compile(
    r"(?<![\w-])(changeme|change_me|changethis|hunter2|letmein|passw0rd|p@ssw0rd|password1"
    r"|password123|secret123|supersecret|s3cr3t|topsecret)(?![\w-])", re.IGNORECASE)
# user:password pairs that are known defaults, in URLs or configs.
# (Not followed by ':': "admin:admin:FILE" is the CLI's user:role:file spec.)
DEFAULT_PAIRS = re.compile(r"(?<![\w-])(guest:guest|admin:admin|user:password|admin:password)"
                           r"(?![\w:-])", re.IGNORECASE)
# A URL with a literal password (not a template, variable or format placeholder).
URL_CREDENTIALS = re.compile(r"[a-z+]+://[^\s:/@'\"]+:(?P<pw>[^\s@/'\"]+)@", re.IGNORECASE)
# Templates, variables, format fields, or the documentation notation "user:pass@".
PLACEHOLDER = re.compile(r"[{}$%<*]|^pass$")
# Names whose value is a credential (not a file, path, mode, length, user, ...).
SECRET_NAME = re.compile(r"(password|passwd|secret|cookie|token|api_?key|credential)",
                         re.IGNORECASE)
NOT_A_VALUE = re.compile(r"(_file|_files|_dir|_path|_mode|_length|_user|_owner|_group|_name"
                         r"|_names|_env|_var|_vars|_bytes|_regex|_min|_max)$|^secrets?$|^update_password$",
                         re.IGNORECASE)
# A default() of a secret variable with a literal: "x_password | default('pw')".
JINJA_DEFAULT = re.compile(
    r"(?P<var>\w*(?:password|passwd|secret|cookie|token)\w*)\s*\|\s*default\(\s*"
    r"(?P<q>['\"])(?P<value>[^'\"]*)(?P=q)", re.IGNORECASE)
# A secret variable referenced in a Jinja expression (value, not a path or a length rule).
JINJA_SECRET_VAR = re.compile(r"\b(?P<var>\w*(?:password|passwd|secret|cookie|vault)\w*)\b",
                              re.IGNORECASE)
TEXT_SUFFIXES = {".yml", ".yaml", ".j2", ".py", ".sh", ".cfg", ".conf", ".ini", ".toml",
                 ".md", ".txt", ".json", ".env", ".mk", ""}


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return [REPO / p for p in out.split("\0") if p]


def is_text(path: Path) -> bool:
    return path.suffix in TEXT_SUFFIXES or path.name in {"Dockerfile", "Makefile"}


def line_findings(text: str) -> Iterator[tuple[int, str]]:
    """(line number, problem) for defaults and literal credentials on any line."""
    for number, line in enumerate(text.splitlines(), 1):
        for m in DEFAULT_WORDS.finditer(line):
            yield number, f"default/placeholder credential word {m.group(1)!r}"
        for m in DEFAULT_PAIRS.finditer(line):
            yield number, f"default credential pair {m.group(1)!r}"
        for m in URL_CREDENTIALS.finditer(line):
            if not PLACEHOLDER.search(m.group("pw")):
                yield number, "URL with a literal password"
        for m in JINJA_DEFAULT.finditer(line):
            shown = "an empty literal" if not m.group("value") else "a literal"
            yield number, f"{m.group('var')} | default() with {shown}"


def _walk_yaml(node, path: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, (dict, list)):
                yield from _walk_yaml(value, where)
            else:
                yield where, value
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_yaml(value, f"{path}[{i}]")


def yaml_findings(text: str) -> Iterator[tuple[str, str]]:
    """(key path, problem) for secret-named keys holding a literal or empty value."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return
    for doc in docs:
        for where, value in _walk_yaml(doc):
            key = where.rsplit(".", 1)[-1].split("[", 1)[0]
            if not SECRET_NAME.search(key) or NOT_A_VALUE.search(key):
                continue
            if value is None or isinstance(value, bool):
                continue  # no default / a switch, not a credential
            text_value = str(value)
            if text_value == "":
                yield where, "empty credential"
            elif not ("{{" in text_value or text_value.startswith(("${", "/", "!vault"))):
                yield where, "literal credential"


def python_findings(text: str) -> Iterator[tuple[int, str]]:
    """(line, problem) for secret-named names/keywords bound to a string literal."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.keyword) and node.arg:
            pairs.append((node.arg, node.value))
        elif isinstance(node, ast.Assign):
            pairs += [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
        for name, value in pairs:
            if (SECRET_NAME.search(name) and not NOT_A_VALUE.search(name)
                    and isinstance(value, ast.Constant) and isinstance(value.value, str)):
                problem = "empty" if not value.value else "literal"
                yield value.lineno, f"{name} = {problem} string"


# ------------------------------------------------------------------ no_log

def _tasks(items, inherited: bool = False) -> Iterator[tuple[dict, bool]]:
    for task in items or []:
        if not isinstance(task, dict):
            continue
        no_log = inherited or task.get("no_log") is True
        nested = [k for k in ("block", "rescue", "always") if k in task]
        for key in nested:
            yield from _tasks(task[key], no_log)
        if not nested:
            yield task, no_log


def _jinja_expressions(node, key: str = "") -> Iterator[str]:
    """The Jinja in a task: {{ ... }} anywhere, and the bare expressions of when/that/..."""
    bare = {"when", "that", "until", "changed_when", "failed_when", "loop_control"}
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _jinja_expressions(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from _jinja_expressions(v, key)
    elif isinstance(node, str):
        yield from re.findall(r"\{\{(.*?)\}\}", node, re.DOTALL)
        if key in bare:
            yield node


def secret_vars(task: dict) -> set[str]:
    body = {k: v for k, v in task.items() if k not in ("name", "no_log", "tags")}
    found = set()
    for expr in _jinja_expressions(body):
        # Quoted strings inside the expression are literals (regexes, messages), not variables.
        expr = re.sub(r"'[^']*'|\"[^\"]*\"", "''", expr)
        for m in JINJA_SECRET_VAR.finditer(expr):
            if not NOT_A_VALUE.search(m.group("var")):
                found.add(m.group("var"))
    return found


def tasks_without_no_log(text: str) -> Iterator[tuple[str, list[str]]]:
    """(task name, secret variables) for tasks that use a secret without no_log: true."""
    docs = yaml.safe_load(text) or []
    items: list = []
    for doc in docs if isinstance(docs, list) else [docs]:
        if isinstance(doc, dict) and any(k in doc for k in ("tasks", "pre_tasks", "post_tasks",
                                                            "handlers", "hosts")):
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                items += doc.get(key) or []
        else:
            items.append(doc)
    for task, no_log in _tasks(items):
        used = secret_vars(task)
        if used and not no_log:
            yield str(task.get("name", "<unnamed>")), sorted(used)
