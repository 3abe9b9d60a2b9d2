"""The serving image, pinned by digest: a release is the model *and* the code that serves it.

`model.image_uri` may name a tag (`repo:2026-12-07`) or a digest (`repo@sha256:...`). A tag moves
(`:latest` is today's build), so an EndpointConfig created from a tag would, on rollback, bring back the
old model with whatever the tag points at now. Before a Model is created the tag is resolved through
ECR DescribeImages to `repo@sha256:<digest>`; the Model (whose name hashes the pinned URI) and the
EndpointConfig that names it then hold model and image together. With `release.require_image_digest`
an image that cannot be resolved is refused before any SageMaker call.
"""
from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from deploy.clients import DeployError

_URI = re.compile(r"^(?P<registry>\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/(?P<repo>[a-z0-9._/-]+)"
                  r"(:(?P<tag>[\w.-]+)|@(?P<digest>sha256:[0-9a-f]{64}))$")


def is_pinned(image_uri: str) -> bool:
    match = _URI.match(image_uri)
    return bool(match and match.group("digest"))


def pin_image(ecr: Any, image_uri: str, *, required: bool = True) -> str:
    """`repo@sha256:...` for `image_uri`; a tag is resolved through ECR DescribeImages.

    Without `required`, an unresolvable tag is returned unchanged (for accounts without ECR access).
    """
    match = _URI.match(image_uri)
    if match is None:
        raise DeployError(f"model.image_uri must be an ECR image URI with a tag or a digest; got {image_uri!r}")
    if match.group("digest"):
        return image_uri
    repo, tag = match.group("repo"), match.group("tag")
    try:
        details = ecr.describe_images(registryId=match.group("registry"), repositoryName=repo,
                                      imageIds=[{"imageTag": tag}])["imageDetails"]
    except ClientError as err:
        if not required:
            return image_uri
        raise DeployError(f"model.image_uri {image_uri!r}: tag {tag!r} could not be resolved to a digest through "
                          f"ECR DescribeImages ({err.response['Error']['Code']}); push the image or give "
                          "'<repo>@sha256:<digest>'. A tag alone is refused (release.require_image_digest): a "
                          "rollback must bring back the code that served the model, not today's build") from err
    if not details or not details[0].get("imageDigest"):
        raise DeployError(f"model.image_uri {image_uri!r}: ECR knows no image tagged {tag!r} in {repo!r}")
    return f"{image_uri[:match.start('tag') - 1]}@{details[0]['imageDigest']}"
