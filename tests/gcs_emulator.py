r"""A local Google Cloud Storage for tests: gcp-storage-emulator plus a TLS proxy.

`python -m tests.gcs_emulator DIR` serves an in-memory GCS on 127.0.0.1 and
prints one JSON line with what each client needs to reach it, then runs until killed:

* gcsfs / google-cloud-storage: ``STORAGE_EMULATOR_HOST`` (the emulator's URL);
* tensorstore (orbax's array data): ``TENSORSTORE_GCS_HTTP_URL`` (the same URL);
* TensorFlow's GCS filesystem (tf.io.gfile, hence epath with TensorFlow installed,
  tf.data and tf.summary) has no endpoint setting: it always calls
  https://www.googleapis.com and https://storage.googleapis.com. libcurl honours
  ``https_proxy`` / ``http_proxy`` and ``CURL_CA_BUNDLE``, so a proxy here answers
  CONNECT for those hosts with a certificate of a CA made in DIR, and relays the
  decrypted requests to the emulator. ``GOOGLE_AUTH_TOKEN_FOR_TESTING`` skips OAuth.

Emulator and proxy run in this one child process, so stopping it stops both.
`emulated_bucket` starts it from a test (the `gcs` fixture in tests/conftest.py):
the trainer's and the data tools' gs:// tests share it.
"""

import contextlib
import datetime
import http
import itertools
import json
import os
import select
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from typing import Callable, Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import ssl

GOOGLE_HOSTS = ("www.googleapis.com", "storage.googleapis.com")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BUCKETS = itertools.count()


@contextlib.contextmanager
def emulated_bucket(directory: str, setenv: Callable[[str, str], None]
                    ) -> Iterator[tuple[str, Callable[[str], list[str]]]]:
  """Starts the emulator with one fresh bucket; yields `(gs://BUCKET, list_objects)`.

  `setenv(name, value)` (e.g. pytest's `monkeypatch.setenv`) receives the client
  settings, so this process and the subprocesses it starts reach the emulator.
  Every call makes a bucket of a new name: TensorFlow's GCS filesystem caches
  file stats for a few seconds per process, and a name reused by a later test
  (a new, empty emulator) could be answered from that cache.
  `list_objects(prefix)` lists the bucket's object names under `prefix`.
  """
  bucket = f"d3d-test-{os.getpid()}-{next(_BUCKETS)}"
  process = subprocess.Popen([sys.executable, "-m", "tests.gcs_emulator", directory],
                             stdout=subprocess.PIPE, cwd=REPO)
  try:
    env = json.loads(process.stdout.readline())
    for key, value in env.items():
      setenv(key, value)
    emulator = env["STORAGE_EMULATOR_HOST"]
    urllib.request.urlopen(urllib.request.Request(
        f"{emulator}/storage/v1/b?project=test", data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"}))

    def list_objects(prefix: str) -> list[str]:
      query = urllib.parse.urlencode({"prefix": prefix})
      with urllib.request.urlopen(f"{emulator}/storage/v1/b/{bucket}/o?{query}") as r:
        return [item["name"] for item in json.load(r).get("items", [])]

    yield f"gs://{bucket}", list_objects
  finally:
    process.terminate()
    process.wait(timeout=10)


def _certificates(directory: str) -> tuple[str, str, str]:
  """(CA bundle, server certificate, server key) files for GOOGLE_HOSTS."""
  now = datetime.datetime.now(datetime.timezone.utc)
  valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=1))

  def build(subject, issuer, public_key, signer, extensions):
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(valid[0]).not_valid_after(valid[1]))
    for extension, critical in extensions:
      builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signer, hashes.SHA256())

  ca_key = ec.generate_private_key(ec.SECP256R1())
  ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d3d_jax test CA")])
  ca = build(ca_name, ca_name, ca_key.public_key(), ca_key,
             [(x509.BasicConstraints(ca=True, path_length=None), True),
              (x509.KeyUsage(True, False, False, False, False, True, True, False, False),
               True)])
  key = ec.generate_private_key(ec.SECP256R1())
  cert = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, GOOGLE_HOSTS[0])]),
               ca_name, key.public_key(), ca_key,
               [(x509.SubjectAlternativeName([x509.DNSName(h) for h in GOOGLE_HOSTS]),
                 False),
                (x509.BasicConstraints(ca=False, path_length=None), True)])
  files = [os.path.join(directory, n) for n in ("ca.pem", "server.pem", "server.key")]
  pem = serialization.Encoding.PEM
  for path, data in zip(files, (
      ca.public_bytes(pem), cert.public_bytes(pem),
      key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()))):
    with open(path, "wb") as f:
      f.write(data)
  return tuple(files)


def _relay(a, b) -> None:
  """Copies bytes both ways until either side closes."""
  sockets = [a, b]
  try:
    while True:
      readable, _, _ = select.select(sockets, [], [], 60)
      if not readable:
        return
      for s in readable:
        pending = s.pending() if isinstance(s, ssl.SSLSocket) else 0
        data = s.recv(65536 + pending)
        if not data:
          return
        (b if s is a else a).sendall(data)
  except OSError:
    return
  finally:
    a.close()
    b.close()


def _read_head(conn) -> bytes:
  head = b""
  while b"\r\n\r\n" not in head:
    chunk = conn.recv(65536)
    if not chunk:
      break
    head += chunk
  return head


def _handle(conn, emulator_port: int, context) -> None:
  """One proxy connection: a CONNECT tunnel (https) or a plain request (http)."""
  head = _read_head(conn)
  line, _, rest = head.partition(b"\r\n")
  method, target, version = line.split(b" ", 2)
  upstream = socket.create_connection(("127.0.0.1", emulator_port))
  if method == b"CONNECT":
    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    conn = context.wrap_socket(conn, server_side=True)
  else:  # "PUT http://www.googleapis.com/upload/... HTTP/1.1": strip scheme and host.
    path = b"/" + target.split(b"://", 1)[1].split(b"/", 1)[1]
    upstream.sendall(b" ".join((method, path, version)) + b"\r\n" + rest)
  _relay(conn, upstream)


def _fix_emulator_uploads() -> None:
  """Emulator gaps met by TensorFlow's uploads and our lease (real GCS handles all).

  * libcurl sends a PUT body chunked and with a Content-Length; HTTP says the
    chunked encoding wins, the emulator read Content-Length raw bytes of the chunks.
  * An empty body reads as None and fails the upload; TensorFlow's directory
    markers are empty objects.
  * The ``ifGenerationMatch`` precondition of single-request uploads and deletes
    (d3d_jax/workdir_lease.py's compare-and-swap) is ignored: answered 412 here.
  """
  from gcp_storage_emulator import server  # pylint: disable=g-import-not-at-top
  from gcp_storage_emulator.handlers import objects  # pylint: disable=g-import-not-at-top
  read_raw_data = server._read_raw_data  # pylint: disable=protected-access

  def _read_raw_data(request_handler):
    if request_handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
      del request_handler.headers["Content-Length"]
    return read_raw_data(request_handler)

  server._read_raw_data = _read_raw_data  # pylint: disable=protected-access

  download = objects.download

  def _download(request, response, storage, *args, **kwargs):
    # GCS names the object's generation in x-goog-generation; tensorstore's
    # conditional writes (orbax's OCDBT manifest) need it.
    try:
      obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
      response["x-goog-generation"] = str(obj["generation"])
      response["x-goog-metageneration"] = str(obj["metageneration"])
    except Exception:  # pylint: disable=broad-except
      pass  # Not found: the original handler answers 404.
    return download(request, response, storage, *args, **kwargs)

  objects.download = _download
  server.HANDLERS = tuple(
      (pattern, {m: _download if h is download else h for m, h in methods.items()})
      for pattern, methods in server.HANDLERS)
  media_upload = objects._media_upload  # pylint: disable=protected-access

  def _media_upload(request, response, storage):
    if request.data is None:
      request._data = b""  # pylint: disable=protected-access
    return media_upload(request, response, storage)

  objects._media_upload = _media_upload  # pylint: disable=protected-access

  def _generation_matches(request, storage, name) -> bool:
    expected = request.query.get("ifGenerationMatch")
    if not expected or name is None:
      return True
    try:
      current = str(storage.get_file_obj(request.params["bucket_name"], name)["generation"])
    except Exception:  # pylint: disable=broad-except
      current = "0"  # Absent: only ifGenerationMatch=0 matches.
    return current == expected[0]

  insert, delete = objects.insert, objects.delete

  def _insert(request, response, storage, *args, **kwargs):
    upload_type = request.query.get("uploadType", [""])[0]
    name = (request.query["name"][0] if "name" in request.query
            else request.data["meta"].get("name") if upload_type == "multipart" else None)
    if upload_type in ("media", "multipart") and not _generation_matches(
        request, storage, name):
      response.status = http.HTTPStatus.PRECONDITION_FAILED
      return None
    return insert(request, response, storage, *args, **kwargs)

  def _delete(request, response, storage, *args, **kwargs):
    if not _generation_matches(request, storage, request.params["object_id"]):
      response.status = http.HTTPStatus.PRECONDITION_FAILED
      return None
    return delete(request, response, storage, *args, **kwargs)

  replaced = {insert: _insert, delete: _delete}
  server.HANDLERS = tuple(
      (pattern, {m: replaced.get(h, h) for m, h in methods.items()})
      for pattern, methods in server.HANDLERS)


def main(directory: str) -> None:
  from gcp_storage_emulator.server import create_server  # pylint: disable=g-import-not-at-top
  _fix_emulator_uploads()
  probe = socket.socket()
  probe.bind(("127.0.0.1", 0))
  emulator_port = probe.getsockname()[1]
  probe.close()
  server = create_server("127.0.0.1", emulator_port, in_memory=True)
  server.start()
  ca_file, cert_file, key_file = _certificates(directory)
  context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
  context.load_cert_chain(cert_file, key_file)
  listener = socket.socket()
  listener.bind(("127.0.0.1", 0))
  listener.listen(64)
  proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
  emulator = f"http://127.0.0.1:{emulator_port}"
  print(json.dumps({
      "STORAGE_EMULATOR_HOST": emulator, "TENSORSTORE_GCS_HTTP_URL": emulator,
      "https_proxy": proxy, "http_proxy": proxy, "no_proxy": "127.0.0.1,localhost",
      "CURL_CA_BUNDLE": ca_file, "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator",
  }), flush=True)
  while True:
    conn, _ = listener.accept()
    threading.Thread(target=_handle, args=(conn, emulator_port, context),
                     daemon=True).start()


if __name__ == "__main__":
  main(sys.argv[1])
