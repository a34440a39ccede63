"""ECS Exec (``ExecuteCommand``), the local way: the checks ECS makes before opening a session, and the
session minecs hands back instead of an SSM one.

Real ECS starts an SSM Session Manager session with the agent it bind-mounted into the container and
returns a ``wss://ssmmessages...`` ``streamUrl``. minecs has no SSM: the container runs on a Docker daemon
the client can reach, so the session's ``streamUrl`` is ``minecs+docker-exec://<Docker container ID>`` —
what to attach to with ``docker exec`` (``minecs execute-command`` does exactly that). ``tokenValue`` is
a random opaque string (nothing checks it); ``sessionId`` has ECS's ``ecs-execute-command-...`` form.

The command string is not run through a shell: as the SSM agent does in ECS containers, it is split
with POSIX shell-like rules (``shlex.split``) and executed directly, so ``"ls -l /tmp"`` works but pipes,
``;`` or ``$VAR`` need an explicit ``sh -c '...'``. ECS only opens interactive sessions, so
``interactive`` must be true (it is refused otherwise, as ECS does).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from orchestrator import naming
from orchestrator.errors import ClusterNotFoundException, InvalidParameterException
from orchestrator.model.task import ContainerRecord, TaskRecord, TaskStatus
from orchestrator.services.ecs.ops import clusters
from orchestrator.services.ecs.ops.tasks import find_task
from orchestrator.store import Store

STREAM_SCHEME = "minecs+docker-exec"

# ECS's wording (AWS CLI output quoted in many public troubleshooting notes).
NOT_ENABLED = ("The execute command failed because execute command was not enabled when the task was run or "
               "the execute command agent isn't running. Wait and try again or run a new task with execute "
               "command enabled and try again.")
INTERACTIVE_ONLY = "Interactive mode is the only supported mode currently."
TASK_NOT_FOUND = "The referenced task was not found."


@dataclass(frozen=True)
class ExecSession:
    """An accepted ExecuteCommand: where it runs and the session handed back."""

    task: TaskRecord
    container: ContainerRecord
    argv: tuple[str, ...]  # the command as it will be executed (split, no shell)
    session_id: str
    stream_url: str
    token_value: str


def stream_url(docker_id: str) -> str:
    return f"{STREAM_SCHEME}://{docker_id}"


def docker_id_of(url: str) -> str | None:
    """The Docker container ID in a minecs session ``streamUrl`` (None for any other URL)."""
    prefix = f"{STREAM_SCHEME}://"
    if not url.startswith(prefix) or len(url) == len(prefix):
        return None
    return url[len(prefix):]


_BLANKS = " \t\r\n"


def split_words(s: str) -> list[str]:
    """``shlex.split(s)`` (POSIX rules, no comments) in linear time: shlex grows each word a character at
    a time, which took seconds for a 1 MB word. Same words, same errors (``ValueError``)."""
    out: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in _BLANKS:
            if in_word:
                out.append("".join(word))
                word, in_word = [], False
            i += 1
            continue
        in_word = True
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("No escaped character")
            word.append(s[i + 1])
            i += 2
        elif c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise ValueError("No closing quotation")
            word.append(s[i + 1:j])
            i = j + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ValueError("No closing quotation")
                c = s[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 >= n:
                    raise ValueError("No escaped character")
                if c == "\\" and s[i + 1] in '"\\':
                    word.append(s[i + 1])
                    i += 2
                else:
                    j = i + 1  # a run of plain characters at once
                    while j < n and s[j] not in '"\\':
                        j += 1
                    word.append(s[i:j])
                    i = j
        else:
            j = i + 1
            while j < n and s[j] not in _BLANKS and s[j] not in "\\'\"":
                j += 1
            word.append(s[i:j])
            i = j
    if in_word:
        out.append("".join(word))
    return out


def split_command(command: str | None) -> list[str]:
    """The command as ECS's agent executes it: shell-like splitting, no shell. Raises on bad input."""
    if command is None or not command.strip():
        raise InvalidParameterException("command must be specified.")
    try:
        argv = split_words(command)
    except ValueError as e:
        raise InvalidParameterException(f"command could not be parsed: {e}.") from None
    if not argv:
        raise InvalidParameterException("command must be specified.")
    return argv


def choose_container(t: TaskRecord, container: str | None) -> ContainerRecord:
    """The container of ``t`` to exec into, after ECS's checks: exec enabled when the task was run and
    the task RUNNING; a name required when the task has several containers, and one of them; the agent
    (here: the container) running."""
    if not t.enable_execute_command or t.last_status != TaskStatus.RUNNING:
        raise InvalidParameterException(NOT_ENABLED)
    if container is None:
        if len(t.containers) != 1:
            names = ", ".join(c.name for c in t.containers)
            raise InvalidParameterException(
                f"The task has {len(t.containers)} containers ({names}); specify the container to execute "
                "the command on.")
        c = t.containers[0]
    else:
        found = t.container(container)
        if found is None:
            raise InvalidParameterException(f"The container {container} does not exist in the task.")
        c = found
    if not t.exec_agent_running(c):
        raise InvalidParameterException(NOT_ENABLED)
    return c


def start_session(store: Store, *, cluster_ref: str | None, task_ref: str, container: str | None,
                  command: str | None, interactive: bool) -> ExecSession:
    """Check an ExecuteCommand request and open its (local) session. Raises ECS's errors:
    InvalidParameterException for a non-interactive request, a bad command, an unknown task or container,
    or a task without a running exec agent; ClusterNotFoundException for an unknown cluster."""
    if not interactive:
        raise InvalidParameterException(INTERACTIVE_ONLY)
    argv = split_command(command)
    arn_cluster, _ = naming.parse_task(task_ref)
    cluster = clusters.get_cluster(store, cluster_ref or arn_cluster)
    if cluster is None or cluster.status != "ACTIVE":
        raise ClusterNotFoundException()
    t = find_task(store, cluster.name, task_ref)
    if t is None:
        raise InvalidParameterException(TASK_NOT_FOUND)
    c = choose_container(t, container)  # checked: the container is RUNNING with a Docker ID
    return ExecSession(task=t, container=c, argv=tuple(argv),
                       session_id=f"ecs-execute-command-{secrets.token_hex(9)[:17]}",
                       stream_url=stream_url(c.runtime_id or ""), token_value=secrets.token_urlsafe(32))
