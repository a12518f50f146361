import os
import socket
import uuid

# Names this process in claims and heartbeats.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
