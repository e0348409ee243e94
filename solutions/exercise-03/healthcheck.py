"""Docker HEALTHCHECK probe: exit 0 when the API answers GET /health with 200, else 1.

Slim Python images have no curl or wget, but they do have Python, so the probe is
written with the standard library only. Run it as `python healthcheck.py`.
"""

import sys
import urllib.request

URL = "http://127.0.0.1:5001/health"

# No proxy: the probe runs inside the container and talks to the app beside it.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(URL, timeout=3) as response:
        healthy = response.status == 200
except OSError as error:  # refused, timed out, HTTP error status
    print(f"unhealthy: {error}")
    sys.exit(1)
print("healthy" if healthy else "unhealthy: unexpected status")
sys.exit(0 if healthy else 1)
