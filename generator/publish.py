"""`pipegen publish`: output/ to S3 as immutable, versioned template sets.

Besides generator/writer.py, the only module that does I/O: it reads output/ and writes S3.

1. The output must be what a fresh build makes now: every spec is rendered again in memory (with
   the output cache), checked against AWS limits, and compared byte for byte with output/,
   the Service Catalog portfolio included; then everything is linted (with the lint cache).
   Stale output is refused (exit 2), output that fails lint too (exit 1).
2. Each set goes under `<prefix><name>/<version>/`, the version being the generator version and a
   hash of the set's files (generator/service_catalog.py). A key that already exists is never
   written again: with the same content it counts as published, with other content publishing
   stops before uploading anything (exit 2). Publishing unchanged output uploads nothing.
3. A root template is uploaded with its template location parameters defaulting to where it was
   published (bucket, `<prefix><pipeline>/<version>/`, bucket region), so that it launches from
   the console or Service Catalog without anyone typing them; the portfolio's default to the
   bucket and `<prefix>`. Each app/ starter folder goes up as a deterministic app.zip.
4. Templates go up before the roots that nest them, so a root URL never names a missing child.

The bucket is checked first (it exists, can be read, is in --region). S3 errors become one
message naming the bucket and key (exit 2), never a traceback.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from generator import build, service_catalog, writer
from generator.errors import LintFailure, PipegenError
from generator.lint.cache import CACHE_ROOT, LintCache
from generator.output_cache import OutputCache, RenderedSet
from generator.rendering import render
from generator.spec.model import PipelineSpec

CATALOG_STACK_NAME = "pipegen-service-catalog"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # as the roots' parameter
PREFIX_CHARACTERS = re.compile(r"^[0-9a-zA-Z!*'()_./-]*$")  # as TemplateKeyPrefix allows
MAX_KEY_PREFIX = 200  # TemplateKeyPrefix's MaxLength
CONTENT_TYPES = {
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".json": "application/json",
    ".zip": "application/zip",
    ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml",
    ".py": "text/x-python; charset=utf-8",  # scripts/publish_templates.py (self-update)
}
SHA_METADATA = "sha256"


class PublishError(PipegenError):
    """Publishing cannot go on: bad input, stale output, or S3 refused (exit code 2)."""


# -- what goes where -------------------------------------------------------------------------


def normalise_prefix(prefix: str) -> str:
    """'' stays ''; 'a/b' and '/a/b/' become 'a/b/'."""
    text = prefix.strip().strip("/")
    if not text:
        return ""
    if not PREFIX_CHARACTERS.match(text) or "//" in text:
        raise PublishError(
            f"--prefix {prefix!r}: use S3 key characters (letters, digits, ! * ' ( ) _ . / -), "
            "no empty segments"
        )
    return text + "/"


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str  # "" or ending in "/"
    region: str

    def url(self, key: str) -> str:
        return f"https://{self.bucket}.s3.{self.region}.amazonaws.com/{quote(key)}"

    def s3(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"


@dataclass(frozen=True)
class Upload:
    key: str
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(Path(self.key).suffix, "application/octet-stream")


@dataclass
class PublishedSet:
    """One template set as it goes to S3; `root` last among its uploads."""

    name: str
    version: str
    folder: str  # key prefix of the set, ending in "/"
    root_key: str
    launch_regions: tuple[str, ...]  # where its root is meant to be launched
    stack_name: str
    uploads: list[Upload]


def quick_create_url(region: str, template_url: str, stack_name: str) -> str:
    """The CloudFormation console's quick-create link for a template."""
    return (
        f"https://{region}.console.aws.amazon.com/cloudformation/home?region={region}"
        f"#/stacks/quickcreate?templateURL={quote(template_url, safe='')}"
        f"&stackName={quote(stack_name, safe='')}"
    )


def deterministic_zip(files: Mapping[str, bytes]) -> bytes:
    """A zip of `files` whose bytes depend only on them: sorted entries, fixed timestamps and
    Unix permissions (scripts executable), one compression level."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=ZIP_TIMESTAMP)
            info.create_system = 3  # Unix, so that the permissions below are read
            mode = 0o755 if path.endswith(".sh") else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[path], compresslevel=9)
    return buffer.getvalue()


def with_location_defaults(
    relative: str, data: bytes, location: Location, key_prefix: str
) -> bytes:
    """The template with its template location parameters defaulting to `location` and
    `key_prefix`. The template must read back into exactly the bytes it was rendered to, so
    that nothing but those defaults changes."""
    template_format = "json" if relative.endswith(".json") else "yaml"
    document = service_catalog.parse_template(relative, data)
    if render(document, template_format).encode() != data:
        raise PublishError(f"{relative}: cannot set its template location defaults safely")
    parameters = document.get("Parameters", {})
    values = {
        "TemplateBucketName": location.bucket,
        "TemplateKeyPrefix": key_prefix,
        "TemplateBucketRegion": location.region,
    }
    for name, value in values.items():
        if name in parameters:
            parameters[name]["Default"] = value
    return render(document, template_format).encode()


def plan(
    sets: Sequence[RenderedSet],
    catalog: RenderedSet,
    specs: Sequence[PipelineSpec[Any]],
    location: Location,
) -> list[PublishedSet]:
    """What to upload, in order: each pipeline's set, then the portfolio."""
    regions = {spec.name: spec.region for spec in specs}
    planned = []
    for rendered in sorted(sets, key=lambda s: s.pipeline):
        version = service_catalog.set_version(rendered.files)
        folder = location.prefix + service_catalog.published_folder(rendered.pipeline, version)
        if len(folder) > MAX_KEY_PREFIX:
            raise PublishError(
                f"{location.s3(folder)}: the key prefix is longer than the {MAX_KEY_PREFIX} "
                "characters TemplateKeyPrefix takes; use a shorter --prefix"
            )
        root = service_catalog.root_name(rendered.files)
        uploads = [
            Upload(folder + relative, data)
            for relative, data in sorted(rendered.files.items())
            if not relative.startswith("app/") and relative != root
        ]
        app = {r.removeprefix("app/"): d for r, d in rendered.files.items() if r.startswith("app/")}
        if app:
            uploads.append(Upload(folder + "app.zip", deterministic_zip(app)))
        root_body = with_location_defaults(root, rendered.files[root], location, folder)
        uploads.append(Upload(folder + root, root_body))
        planned.append(
            PublishedSet(
                rendered.pipeline,
                version,
                folder,
                folder + root,
                (regions[rendered.pipeline],),
                rendered.pipeline,
                uploads,
            )
        )
    version = service_catalog.catalog_version(catalog.files)
    folder = location.prefix + service_catalog.published_folder(service_catalog.FOLDER, version)
    portfolio = next(r for r in catalog.files if r.startswith(f"{service_catalog.PORTFOLIO}."))
    uploads = [
        Upload(folder + relative, data)
        for relative, data in sorted(catalog.files.items())
        if relative != portfolio
    ]
    body = with_location_defaults(portfolio, catalog.files[portfolio], location, location.prefix)
    uploads.append(Upload(folder + portfolio, body))
    launch = tuple(sorted(set(regions.values()))) or (location.region,)
    planned.append(
        PublishedSet(
            service_catalog.FOLDER,
            version,
            folder,
            folder + portfolio,
            launch,
            CATALOG_STACK_NAME,
            uploads,
        )
    )
    return planned


# -- the output must be fresh and lint-clean ---------------------------------------------------


@dataclass
class Fresh:
    template_format: str
    specs: list[PipelineSpec[Any]]
    sets: list[RenderedSet]
    catalog: RenderedSet


def output_format(out_dir: Path) -> str:
    return "json" if any(out_dir.glob("*/root.json")) else "yaml"


def expected_output(
    paths: Sequence[Path], template_format: str, cache_dir: Path | None = CACHE_ROOT
) -> Fresh:
    """What a build of `paths` writes, in memory: the pipelines and the portfolio."""
    outputs = OutputCache(cache_dir / "output" if cache_dir else None)
    sets, _ = build.render_all(paths, template_format, outputs)  # AWS limits checked there
    specs = [item.spec for item in build.load_all(paths)]
    catalog = service_catalog.catalog_set(specs, sets, template_format)
    return Fresh(template_format, specs, sets, catalog)


def stale_files(out_dir: Path, fresh: Fresh) -> list[str]:
    """Files of `out_dir` that a fresh build would write differently, add or remove."""
    problems = []
    expected = [*fresh.sets, fresh.catalog]
    for rendered in expected:
        on_disk = writer.read_tree(out_dir / rendered.pipeline)
        for relative in sorted(set(on_disk) | set(rendered.files)):
            where = f"{out_dir / rendered.pipeline / relative}"
            if relative not in on_disk:
                problems.append(f"{where} is missing")
            elif relative not in rendered.files:
                problems.append(f"{where} is not made by the specs any more")
            elif on_disk[relative] != rendered.files[relative]:
                problems.append(f"{where} differs from a fresh build")
    names = {rendered.pipeline for rendered in expected}
    if out_dir.is_dir():
        for folder in sorted(out_dir.iterdir()):
            if folder.name not in names and writer.is_pipeline_output(folder):
                problems.append(f"{folder}/ has no spec")
    return problems


def check_fresh(
    paths: Sequence[Path],
    out_dir: Path,
    *,
    cache_dir: Path | None = CACHE_ROOT,
    workers: int = 1,
) -> Fresh:
    """The output of `paths`, if `out_dir` holds exactly it and it passes the lint gate."""
    fresh = expected_output(paths, output_format(out_dir), cache_dir)
    problems = stale_files(out_dir, fresh)
    if problems:
        listed = "\n".join(f"  {p}" for p in problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise PublishError(
            f"{out_dir}/ is not what the specs build now, so nothing was published:\n"
            f"{listed}{more}\nRun `make templates` (or pipegen build), review, then publish."
        )
    staged = [*fresh.sets, fresh.catalog]
    with tempfile.TemporaryDirectory(prefix="pipegen-publish-") as folder:
        staging = Path(folder)
        for rendered in staged:
            writer.write_tree(staging / rendered.pipeline, rendered.files)
        findings, _ = build.lint_staged(
            staging,
            staged,
            fresh.template_format,
            cache=LintCache(cache_dir / "lint" if cache_dir else None),
            workers=workers,
        )
    if findings:
        raise LintFailure(
            "the output fails the lint gate, so nothing was published:\n"
            + "\n".join(f"  {f}" for f in findings)
        )
    return fresh


# -- S3 ----------------------------------------------------------------------------------------


@dataclass
class Report:
    location: Location
    sets: list[PublishedSet]
    uploaded: list[str] = field(default_factory=list)  # keys
    unchanged: list[str] = field(default_factory=list)

    def new_in(self, published: PublishedSet) -> int:
        keys = {u.key for u in published.uploads}
        return sum(1 for key in self.uploaded if key in keys)

    def lines(self) -> Iterator[str]:
        for published in self.sets:
            new = self.new_in(published)
            where = self.location.s3(published.folder)
            if new:
                yield f"published {published.name} {published.version} to {where} ({new} objects)"
            else:
                yield f"{published.name} {published.version} is already published at {where}"
            url = self.location.url(published.root_key)
            for region in published.launch_regions:
                yield f"  launch: {quick_create_url(region, url, published.stack_name)}"
        if self.uploaded:
            yield f"{len(self.uploaded)} objects uploaded, {len(self.unchanged)} already there"
        else:
            yield (
                f"nothing to upload: all {len(self.unchanged)} objects are already published "
                "with the same content"
            )


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or str(status or "")


def s3_problem(error: Exception, location: Location, key: str = "") -> PublishError:
    """One message for an S3 failure, naming the bucket and key."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    where = location.s3(key)
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return PublishError(
            f"{where}: no AWS credentials; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, EndpointConnectionError):
        return PublishError(f"{where}: cannot reach S3 ({error})")
    if not isinstance(error, ClientError):
        return PublishError(f"{where}: {type(error).__name__}: {error}")
    code = _error_code(error)
    message = error.response.get("Error", {}).get("Message", "")
    if code in ("NoSuchBucket", "404") and not key:
        return PublishError(f"{where}: the bucket does not exist (create it, or check --bucket)")
    if code in ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId"):
        return PublishError(
            f"{where}: access denied; publishing needs s3:GetBucketLocation, s3:GetObject and "
            "s3:PutObject on the bucket and prefix"
        )
    if code in ("PermanentRedirect", "301", "AuthorizationHeaderMalformed"):
        return PublishError(f"{where}: the bucket is in another region; pass it with --region")
    if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
        return PublishError(
            f"{where}: the key was written while publishing; published versions are immutable, "
            "publish again to check what is there"
        )
    return PublishError(f"{where}: {code or 'error'}: {message or error}")


def bucket_region(client: Any, location: Location) -> str:
    try:
        answer = client.get_bucket_location(Bucket=location.bucket)
    except Exception as error:
        raise s3_problem(error, location) from None
    constraint = answer.get("LocationConstraint") or "us-east-1"
    return {"EU": "eu-west-1"}.get(constraint, constraint)


def check_bucket(client: Any, location: Location) -> None:
    """The bucket exists, we may read it, and it is in the region we were told."""
    region = bucket_region(client, location)
    if region != location.region:
        raise PublishError(
            f"{location.s3()}: the bucket is in {region}, not {location.region}; publish with "
            f"--region {region}"
        )


def _existing(client: Any, location: Location, upload: Upload) -> str | None:
    """The sha256 of what is at the upload's key; None when nothing is."""
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=location.bucket, Key=upload.key)
    except ClientError as error:
        if _error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise s3_problem(error, location, upload.key) from None
    except Exception as error:
        raise s3_problem(error, location, upload.key) from None
    recorded = (head.get("Metadata") or {}).get(SHA_METADATA)
    if recorded:
        return str(recorded)
    try:  # written by something else: compare the bytes
        body = client.get_object(Bucket=location.bucket, Key=upload.key)["Body"].read()
    except Exception as error:
        raise s3_problem(error, location, upload.key) from None
    return hashlib.sha256(body).hexdigest()


def upload_sets(
    client: Any,
    location: Location,
    sets: Sequence[PublishedSet],
    on_upload: Callable[[Upload], None] | None = None,
) -> Report:
    """Upload what is missing; refuse, before writing anything, if a key holds other content."""
    check_bucket(client, location)
    report = Report(location, list(sets))
    missing: list[Upload] = []
    conflicts: list[str] = []
    for published in sets:
        for upload in published.uploads:
            found = _existing(client, location, upload)
            if found is None:
                missing.append(upload)
            elif found == upload.sha256:
                report.unchanged.append(upload.key)
            else:
                conflicts.append(upload.key)
    if conflicts:
        listed = "\n".join(f"  {location.s3(key)}" for key in conflicts)
        raise PublishError(
            "published versions are immutable, and these keys already hold other content, so "
            f"nothing was uploaded:\n{listed}\nA version names its content: something other "
            "than pipegen publish wrote there. Publish under another --prefix, or remove the "
            "objects if they are not in use."
        )
    for upload in missing:
        try:
            client.put_object(
                Bucket=location.bucket,
                Key=upload.key,
                Body=upload.body,
                ContentType=upload.content_type,
                Metadata={SHA_METADATA: upload.sha256},
                IfNoneMatch="*",
            )
        except Exception as error:
            raise s3_problem(error, location, upload.key) from None
        report.uploaded.append(upload.key)
        if on_upload:
            on_upload(upload)
    return report


def s3_client(region: str, endpoint_url: str | None) -> Any:
    import boto3

    return boto3.session.Session().client("s3", region_name=region, endpoint_url=endpoint_url)


def default_region() -> str:
    import boto3

    return boto3.session.Session().region_name or "us-east-1"


def publish(
    paths: Sequence[Path],
    out_dir: Path,
    *,
    bucket: str,
    prefix: str = "",
    region: str | None = None,
    endpoint_url: str | None = None,
    cache_dir: Path | None = CACHE_ROOT,
    workers: int | None = None,
    client: Any = None,
) -> Report:
    """Check `out_dir` against `paths`, then upload what is not published yet."""
    if not BUCKET_NAME.match(bucket) or ".." in bucket:
        raise PublishError(f"s3://{bucket}/: not an S3 bucket name (3-63 of a-z 0-9 . -)")
    location = Location(bucket, normalise_prefix(prefix), region or default_region())
    client = client or s3_client(location.region, endpoint_url)
    check_bucket(client, location)  # before the build: S3 problems come first, and fast
    fresh = check_fresh(paths, out_dir, cache_dir=cache_dir, workers=workers or os.cpu_count() or 1)
    sets = plan(fresh.sets, fresh.catalog, fresh.specs, location)
    return upload_sets(client, location, sets)
