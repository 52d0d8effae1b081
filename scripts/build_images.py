"""Build every image the compose stack names, with plain `docker build`.

Why not `docker compose build`: without buildx, compose's builder gives a
new image id on every run, so each `make up` would recreate every service.
A cached `docker build` returns the same id, so a second `make up` changes
nothing. The list of images comes from the compose config itself.
Usage: build_images.py <docker compose config --format json output on stdin>
"""

import json
import subprocess
import sys

config = json.load(sys.stdin)
seen = set()
for name, service in sorted(config["services"].items()):
    build, image = service.get("build"), service.get("image")
    if not build or not image or image in seen:
        continue
    seen.add(image)
    dockerfile = build.get("dockerfile", "Dockerfile")
    if not dockerfile.startswith("/"):
        dockerfile = f"{build['context']}/{dockerfile}"
    cmd = ["docker", "build", "-q", "-t", image, "-f", dockerfile, build["context"]]
    # Arguments come from the project's own compose config, never from users.
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        sys.exit(f"build_images: building {image} for service {name} failed")
