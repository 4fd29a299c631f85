"""The operator console: server-rendered pages over the store, served by the daemon when enabled.

config.py      [console] settings: where it listens, its users (argon2 hashes) and roles
readmodel.py   what the pages read and do (a Protocol), and the records it returns
store_model.py that read model over the SQL store (its methods, and read-only queries of its tables)
auth.py        passwords, sessions that expire, CSRF tokens, login throttling
charts.py      bar charts as inline SVG, drawn on the server (no JavaScript)
pages.py       the request handlers; app.py the aiohttp application, its middlewares and routes
templates/     Jinja2 templates (autoescaped); static/console.css, our own
"""
