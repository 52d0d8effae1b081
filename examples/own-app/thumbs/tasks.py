"""Tasks of the example application; routes in topology.yml pick their queues."""

import time

from celery import shared_task


@shared_task(name="thumbs.tasks.render_preview")
def render_preview(image_id: int) -> int:
    time.sleep(0.05)
    return image_id


@shared_task(name="thumbs.tasks.reencode_archive", acks_late=True)
def reencode_archive(archive_id: int, seconds: float = 2.0) -> int:
    time.sleep(seconds)
    return archive_id
