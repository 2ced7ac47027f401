"""Create the demo workspace on first start and tell the user how to use it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reach.settings import Settings
from resolvers.accounts import bootstrap


async def ensure_demo(settings: Settings) -> Path | None:
    """On an empty database: create the demo, write its credentials file, print them."""
    path = settings.data_dir / "demo-credentials.json"
    dashboard = settings.graphql_url.removesuffix("/graphql") + "/dashboard"
    if not await bootstrap.database_is_empty():
        if path.exists():
            print(f"Demo credentials (from first start): {path}", flush=True)
            print(f"Dashboard: {dashboard}", flush=True)
        return None
    demo = await bootstrap.create_demo_workspace()
    data = {
        "organization_id": demo.organization_id,
        "workspace_id": demo.workspace_id,
        "secret_key": demo.secret_key,
        "write_key": demo.write_key,
        "graphql_url": settings.graphql_url,
        "dashboard_url": dashboard,
        "owner_email": demo.owner_email,
        "owner_password": demo.owner_password,
    }
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    print(
        "\n".join(
            [
                "",
                "Reach demo workspace created (keys are shown once; also saved to the file below).",
                f"  organization_id  {demo.organization_id}",
                f"  workspace_id     {demo.workspace_id}",
                f"  secret_key       {demo.secret_key}",
                f"  write_key        {demo.write_key}",
                f"  dashboard        {dashboard}",
                f"  dashboard login  {demo.owner_email} / {demo.owner_password}",
                f"  graphql_url      {settings.graphql_url}",
                f"  saved to         {path}",
                f'In GraphiQL set the header:  {{"Authorization": "Bearer {demo.secret_key}"}}',
                "",
            ]
        ),
        flush=True,
    )
    return path
