"""curionet: a Curio-style coroutine kernel with HTTP, WebSocket and Happy
Eyeballs on top.

Every public name is re-exported here, so Curio programs run after replacing
``curio`` with ``curionet`` in their imports.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import socket as socket, ssl as ssl  # curio-style submodules: curionet.socket, curionet.ssl
from .channel import Channel as Channel  # message passing between processes
from .errors import (
    AsyncOnlyError as AsyncOnlyError,
    CancelledError as CancelledError,
    ClosedResourceError as ClosedResourceError,
    CurioError as CurioError,
    CurionetError as CurionetError,
    ReadResourceBusy as ReadResourceBusy,
    ResourceBusy as ResourceBusy,
    SyncIOError as SyncIOError,
    TaskCancelled as TaskCancelled,
    TaskError as TaskError,
    TaskTimeout as TaskTimeout,
    TimeoutCancellationError as TimeoutCancellationError,
    UncaughtTimeoutError as UncaughtTimeoutError,
    WriteResourceBusy as WriteResourceBusy,
)
from .file import anext as anext, aopen as aopen  # async files (issue 4)
from .kernel import (
    Activation as Activation,
    BoundedSemaphore as BoundedSemaphore,
    Condition as Condition,
    Event as Event,
    Kernel as Kernel,
    LifoQueue as LifoQueue,
    Lock as Lock,
    MockClock as MockClock,
    PriorityQueue as PriorityQueue,
    Queue as Queue,
    Result as Result,
    RLock as RLock,
    Semaphore as Semaphore,
    SystemClock as SystemClock,
    Task as Task,
    TaskGroup as TaskGroup,
    check_cancellation as check_cancellation,
    clock as clock,
    current_task as current_task,
    disable_cancellation as disable_cancellation,
    ignore_after as ignore_after,
    run as run,
    set_cancellation as set_cancellation,
    sleep as sleep,
    spawn as spawn,
    timeout_after as timeout_after,
)
from .meta import awaitable as awaitable  # issue 4
from .network import (  # sockets, streams, servers (issue 3)
    open_connection as open_connection,
    open_unix_connection as open_unix_connection,
    run_server as run_server,
    tcp_server as tcp_server,
    tcp_server_socket as tcp_server_socket,
    unix_server as unix_server,
    unix_server_socket as unix_server_socket,
)
from .protocols.happy_eyeballs import open_tcp_stream as open_tcp_stream  # RFC 8305 connector (issue 5)
from .protocols.http import (  # HTTP/1.1 client on h11 (issue 6)
    ClientSession as ClientSession,
    ConnectError as ConnectError,
    ConnectTimeout as ConnectTimeout,
    HTTPError as HTTPError,
    HTTPStatusError as HTTPStatusError,
    LocalProtocolError as LocalProtocolError,
    NetworkError as NetworkError,
    PoolTimeout as PoolTimeout,
    ProxyError as ProxyError,
    ReadError as ReadError,
    ReadTimeout as ReadTimeout,
    RemoteProtocolError as RemoteProtocolError,
    RequestError as RequestError,
    ResponseTooLarge as ResponseTooLarge,
    TimeoutException as TimeoutException,
    TooManyRedirects as TooManyRedirects,
    TotalTimeout as TotalTimeout,
    TransportError as TransportError,
    UnsupportedProtocol as UnsupportedProtocol,
    WriteError as WriteError,
    WriteTimeout as WriteTimeout,
)
from .protocols.websocket import (  # WebSocket client and server (issue 7)
    ConnectionClosed as ConnectionClosed,
    ConnectionClosedError as ConnectionClosedError,
    ConnectionClosedOK as ConnectionClosedOK,
    HandshakeError as HandshakeError,
    InvalidStatus as InvalidStatus,
    WebSocket as WebSocket,
    WebSocketError as WebSocketError,
    WebSocketServer as WebSocketServer,
    accept_websocket as accept_websocket,
    broadcast as broadcast,
    websocket_connect as websocket_connect,
    websocket_handler as websocket_handler,
    websocket_server as websocket_server,
)
from .signal import SignalEvent as SignalEvent, SignalQueue as SignalQueue  # Unix signals for tasks (issue 4)

# -- later layers register their public names below, one block per module --
from .thread import (  # issue 4
    AWAIT as AWAIT,
    AsyncThread as AsyncThread,
    async_thread as async_thread,
    spawn_thread as spawn_thread,
)
from .universal import (  # shared by threads, tasks and asyncio (issue 4)
    UniversalEvent as UniversalEvent,
    UniversalQueue as UniversalQueue,
    UniversalResult as UniversalResult,
)
from .workers import (  # thread and process pools (issue 4)
    block_in_thread as block_in_thread,
    run_in_executor as run_in_executor,
    run_in_process as run_in_process,
    run_in_thread as run_in_thread,
)
