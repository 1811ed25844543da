"""nginx, twice over: the reverse proxy operators would otherwise pick (scenario 3), and the
trivial upstream that isolates a proxy's own cost (it answers a fixed order from memory)."""

from __future__ import annotations

from pathlib import Path

# The shape and size of a real order, so that proxies relay what they would in production.
TRIVIAL_ORDER = (
    '{"id":"4a0e8b4e-4d4b-4a59-9f0c-3d2b8f8c1a11","user_id":"0c6b1b0e-2f7a-4c57-8d0e-'
    '6a8f7b0f5e21","status":"pending","items":[{"product_id":"9d3c2a1b-5e4f-4a6b-8c7d-'
    '0e1f2a3b4c5d","sku":"BENCH-1","name":"Bench widget","quantity":1,"unit_price":"1.00",'
    '"line_total":"1.00"}],"total":"1.00","currency":"USD","version":1,'
    '"created_at":"2026-11-26T00:00:00Z","updated_at":"2026-11-26T00:00:00Z"}'
)


def nginx_config(run_dir: Path, *, proxy_port: int, upstream_port: int, trivial_port: int) -> str:
    """One worker (the cores are shared with everything else), no access log, keep-alive
    to the upstream: nginx as an operator would configure it in front of one service."""
    return f"""
daemon off;
worker_processes 1;
pid {run_dir}/nginx.pid;
error_log {run_dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {run_dir}/nginx-body;
    proxy_temp_path {run_dir}/nginx-proxy;
    fastcgi_temp_path {run_dir}/nginx-fastcgi;
    uwsgi_temp_path {run_dir}/nginx-uwsgi;
    scgi_temp_path {run_dir}/nginx-scgi;
    upstream orders {{
        server 127.0.0.1:{upstream_port};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{proxy_port};
        location / {{
            proxy_pass http://orders;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
    server {{
        listen 127.0.0.1:{trivial_port};
        location / {{
            default_type application/json;
            return 200 '{TRIVIAL_ORDER}';
        }}
    }}
}}
"""
