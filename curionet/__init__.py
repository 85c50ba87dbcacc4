"""curionet: a Curio-style coroutine kernel with HTTP, WebSocket and Happy
Eyeballs on top.

Every public name is re-exported here (and listed in ``__all__``), so Curio
programs run after replacing ``curio`` with ``curionet`` in their imports.
The HTTP client's everyday types (``ClientSession``, ``URL``, ``Headers``,
``Request``, ``Response``, ``Timeout``, ``Limits``, ``Auth``, the transports
and every HTTP exception) are here too; its lower layers (``ConnectionPool``,
``HTTP11Connection``, ``open_stream``, ``create_ssl_context``, proxy
selection) live in :mod:`curionet.protocols.http`.  The byte streams protocols
run over are here as :class:`Stream` (the protocol) and :class:`TLSStream`;
``sock.as_stream()`` gives the socket one.  The test helpers
are in :mod:`curionet.testing`, the Happy Eyeballs building blocks in
:mod:`curionet.protocols.happy_eyeballs`.
"""

__version__ = "0.1.0"

# Every public name below, by the module it comes from.  tests/test_public_api.py
# checks that this list and the imports agree.
__all__ = [
    # curio-style submodules: curionet.socket, curionet.ssl
    "socket", "ssl",
    # channel
    "Channel",
    # errors
    "AsyncOnlyError", "CancelledError", "ClosedResourceError", "CurioError", "CurionetError", "ReadResourceBusy",
    "ResourceBusy", "SyncIOError", "TaskCancelled", "TaskError", "TaskTimeout", "TimeoutCancellationError",
    "UncaughtTimeoutError", "WriteResourceBusy",
    # file
    "anext", "aopen",
    # kernel
    "Activation", "BoundedSemaphore", "Clock", "Condition", "Event", "Kernel", "LifoQueue", "Lock", "MockClock",
    "PriorityQueue", "Queue", "Result", "RLock", "Semaphore", "SystemClock", "Task", "TaskGroup",
    "check_cancellation", "clock", "current_task", "disable_cancellation", "ignore_after", "run", "set_cancellation",
    "sleep", "spawn", "timeout_after",
    # kernel.stream
    "Stream", "TLSStream",
    # meta
    "awaitable",
    # network
    "open_connection", "open_unix_connection", "run_server", "tcp_server", "tcp_server_socket", "unix_server",
    "unix_server_socket",
    # protocols.happy_eyeballs
    "open_tcp_stream",
    # protocols.http
    "URL", "AsyncBaseTransport", "AsyncClient", "AsyncHTTPTransport", "Auth", "BasicAuth", "ClientSession",
    "DigestAuth", "CloseError", "ConnectError", "ConnectTimeout",
    "Cookies", "DecodingError", "Headers", "HTTPError", "HTTPStatusError", "HTTPTransport", "InvalidURL", "Limits",
    "LocalProtocolError", "MockTransport", "NetworkError", "PoolTimeout", "ProtocolError", "ProxyError", "ReadError",
    "ReadTimeout", "RemoteProtocolError", "Request", "RequestError", "Response", "ResponseNotRead",
    "ResponseTooLarge", "StreamClosed", "StreamConsumed", "StreamError", "Timeout", "TimeoutException",
    "TooManyRedirects", "TotalTimeout", "TransportError", "UnsupportedProtocol", "WriteError", "WriteTimeout",
    # protocols.websocket
    "ConnectionClosed", "ConnectionClosedError", "ConnectionClosedOK", "HandshakeError", "InvalidStatus",
    "WebSocket", "WebSocketError", "WebSocketServer", "accept_websocket", "broadcast", "websocket_connect",
    "websocket_handler", "websocket_server",
    # signal
    "SignalEvent", "SignalQueue",
    # supervisor
    "serve",
    # thread
    "AWAIT", "AsyncThread", "async_thread", "spawn_thread",
    # universal
    "UniversalEvent", "UniversalQueue", "UniversalResult",
    # workers
    "block_in_thread", "run_in_executor", "run_in_process", "run_in_thread",
]  # fmt: skip

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
from .file import anext as anext, aopen as aopen  # async files
from .kernel import (
    Activation as Activation,
    BoundedSemaphore as BoundedSemaphore,
    Clock as Clock,
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
from .kernel.stream import Stream as Stream, TLSStream as TLSStream  # the byte streams protocols run over
from .meta import awaitable as awaitable
from .network import (  # sockets, streams, servers
    open_connection as open_connection,
    open_unix_connection as open_unix_connection,
    run_server as run_server,
    tcp_server as tcp_server,
    tcp_server_socket as tcp_server_socket,
    unix_server as unix_server,
    unix_server_socket as unix_server_socket,
)
from .protocols.happy_eyeballs import open_tcp_stream as open_tcp_stream  # RFC 8305 connector
from .protocols.http import (  # HTTP/1.1 client on h11
    URL as URL,
    AsyncBaseTransport as AsyncBaseTransport,
    AsyncClient as AsyncClient,
    AsyncHTTPTransport as AsyncHTTPTransport,
    Auth as Auth,
    BasicAuth as BasicAuth,
    ClientSession as ClientSession,
    CloseError as CloseError,
    ConnectError as ConnectError,
    ConnectTimeout as ConnectTimeout,
    Cookies as Cookies,
    DecodingError as DecodingError,
    DigestAuth as DigestAuth,
    Headers as Headers,
    HTTPError as HTTPError,
    HTTPStatusError as HTTPStatusError,
    HTTPTransport as HTTPTransport,
    InvalidURL as InvalidURL,
    Limits as Limits,
    LocalProtocolError as LocalProtocolError,
    MockTransport as MockTransport,
    NetworkError as NetworkError,
    PoolTimeout as PoolTimeout,
    ProtocolError as ProtocolError,
    ProxyError as ProxyError,
    ReadError as ReadError,
    ReadTimeout as ReadTimeout,
    RemoteProtocolError as RemoteProtocolError,
    Request as Request,
    RequestError as RequestError,
    Response as Response,
    ResponseNotRead as ResponseNotRead,
    ResponseTooLarge as ResponseTooLarge,
    StreamClosed as StreamClosed,
    StreamConsumed as StreamConsumed,
    StreamError as StreamError,
    Timeout as Timeout,
    TimeoutException as TimeoutException,
    TooManyRedirects as TooManyRedirects,
    TotalTimeout as TotalTimeout,
    TransportError as TransportError,
    UnsupportedProtocol as UnsupportedProtocol,
    WriteError as WriteError,
    WriteTimeout as WriteTimeout,
)
from .protocols.websocket import (  # WebSocket client and server
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
from .signal import SignalEvent as SignalEvent, SignalQueue as SignalQueue  # Unix signals for tasks
from .supervisor import serve as serve  # worker processes sharing a port, supervised

# -- later layers register their public names below, one block per module --
from .thread import (  # threads that can await
    AWAIT as AWAIT,
    AsyncThread as AsyncThread,
    async_thread as async_thread,
    spawn_thread as spawn_thread,
)
from .universal import (  # shared by threads, tasks and asyncio
    UniversalEvent as UniversalEvent,
    UniversalQueue as UniversalQueue,
    UniversalResult as UniversalResult,
)
from .workers import (  # thread and process pools
    block_in_thread as block_in_thread,
    run_in_executor as run_in_executor,
    run_in_process as run_in_process,
    run_in_thread as run_in_thread,
)
