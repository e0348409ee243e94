"""Start the iris API with settings from the environment, which command-line options can override.

Environment variables (the Dockerfile's ENV gives them defaults; `docker run -e NAME=value`
changes them for one container):

    PORT         the port the server listens on                  default 5001
    MODEL_PATH   the model file it loads                         default iris_binary_model.pkl next to this file
    WORKERS      requests served at once, each in its own process default 1
    APP_VERSION  a version label shown by GET /health            default dev

Options, which win over the environment:

    --port N  --workers N  --model-path FILE  --log-level debug|info|warning|error

With `ENTRYPOINT ["python", "serve.py"]` in the Dockerfile, the CMD's list and whatever
follows the image name in `docker run IMAGE ...` arrive here as these options, e.g.
`docker run IMAGE --log-level debug` logs every prediction. GET /health shows the
settings the server really started with.
"""

import argparse
import logging
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULTS = {
    "PORT": "5001",
    "MODEL_PATH": os.path.join(HERE, "iris_binary_model.pkl"),
    "WORKERS": "1",
    "APP_VERSION": "dev",
}
LOG_LEVELS = ["debug", "info", "warning", "error"]


def settings_from_environment(environ):
    """Each setting of DEFAULTS, taken from `environ` (os.environ) when it is set there."""
    return {name: environ.get(name, default) for name, default in DEFAULTS.items()}


def parse_options(argv, settings):
    """Read the command-line options; a setting not given on the command line keeps its value."""
    parser = argparse.ArgumentParser(description="Serve the iris model over HTTP.")
    parser.add_argument("--port", type=int, default=int(settings["PORT"]))
    parser.add_argument("--workers", type=int, default=int(settings["WORKERS"]))
    parser.add_argument("--model-path", default=settings["MODEL_PATH"])
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    return parser.parse_args(argv)


def main(argv=None):
    settings = settings_from_environment(os.environ)
    options = parse_options(sys.argv[1:] if argv is None else argv, settings)
    logging.basicConfig(
        level=options.log_level.upper(),
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stdout,
    )
    # flask_api_v2 loads the model named by MODEL_PATH when it is imported.
    os.environ["MODEL_PATH"] = options.model_path
    import flask_api_v2

    flask_api_v2.app.config["SERVER_SETTINGS"] = {
        "port": options.port,
        "workers": options.workers,
        "model_path": options.model_path,
        "log_level": options.log_level,
        "app_version": settings["APP_VERSION"],
    }
    # As PID 1 in a container, Python ignores SIGTERM unless told otherwise: stop at once.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    logging.info(
        "serving %s (version %s) on 0.0.0.0:%d with %d worker(s), log level %s",
        options.model_path, settings["APP_VERSION"], options.port, options.workers, options.log_level,
    )
    workers = max(1, options.workers)
    # One worker: threads in one process. More: one process per request, at most `workers` at once.
    flask_api_v2.app.run(host="0.0.0.0", port=options.port, threaded=workers == 1, processes=workers)


if __name__ == "__main__":
    main()
