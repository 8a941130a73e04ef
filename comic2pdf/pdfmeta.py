"""The comic's metadata in the PDF: document info, XMP, bookmarks, reading direction."""

from collections.abc import Sequence

import pikepdf

from comic2pdf.comicinfo import ComicMetadata

#: Document-info key holding the input's own name (out/ may shorten it to 255 bytes).
SOURCE_NAME_FIELD = "/Comic2pdfSourceName"


def set_metadata(pdf: pikepdf.Pdf, metadata: ComicMetadata, *, kept: Sequence[int]) -> None:
    """Write the comic's metadata to the document info and XMP, its bookmarks and direction.

    *kept* gives, for each page of *pdf*, the index of the image it shows among
    those the metadata's bookmarks count.
    """
    fields = {
        "/Title": metadata.title,
        "/Author": metadata.author,
        "/Subject": metadata.subject,
        "/Keywords": metadata.keywords,
    }
    for key, value in fields.items():
        if value:
            pdf.docinfo[key] = value
    if metadata.language:
        pdf.Root.Lang = pikepdf.String(metadata.language)
    # Our own values for both stores: no pikepdf producer mark or timestamp (the
    # PDF stays reproducible) and no docinfo sync, which would join authors
    # with "; " where ComicInfo has ", ".
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as xmp:
        if metadata.title:
            xmp["dc:title"] = metadata.title
        if metadata.author:
            xmp["dc:creator"] = _split_list(metadata.author)
        if metadata.subject:
            xmp["dc:description"] = metadata.subject
        if metadata.keywords:
            xmp["pdf:Keywords"] = metadata.keywords
        if metadata.language:
            xmp["dc:language"] = {metadata.language}
    if metadata.right_to_left:
        # Manga: viewers lay out facing pages and turn them right to left.
        pdf.Root.ViewerPreferences = pikepdf.Dictionary(Direction=pikepdf.Name.R2L)
    _add_outline(pdf, metadata.bookmarks, kept)


def _add_outline(
    pdf: pikepdf.Pdf, bookmarks: Sequence[tuple[int, str]], kept: Sequence[int]
) -> None:
    """ComicInfo bookmarks as a flat PDF outline; a bookmark on a page left out goes."""
    page_of = {image: number for number, image in enumerate(kept)}
    items = [(page_of[image], title) for image, title in bookmarks if image in page_of]
    if not items:
        return
    with pdf.open_outline() as outline:
        outline.root.extend(pikepdf.OutlineItem(title, number) for number, title in sorted(items))


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
