"""`UploadedFile`: the declared type of an upload."""

from reactor_runtime import UploadedFile


def test_an_uploaded_file_measures_its_size_from_its_bytes():
    upload = UploadedFile(name="a.png", mime_type="image/png", data=b"\x89PNG")
    assert (upload.name, upload.mime_type, upload.size) == ("a.png", "image/png", 4)
