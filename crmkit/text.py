"""Text normalisation for duplicate detection and search (pure functions).

Phones keep digits only, with full-width digits folded to ASCII and the
+86 / 0086 country prefix removed: ``+86-138-0013-8000``, ``138 0013 8000``
and ``１３８００１３８０００`` are the same number. Emails are lower-cased.
Company names are NFKC-folded, lower-cased, stripped of spaces, punctuation
and common legal-form suffixes (有限公司, 股份有限公司, Co., Ltd. ...).
"""
from __future__ import annotations

import re
import unicodedata

_COMPANY_SUFFIXES = (
    "股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "集团", "公司",
    "corporation", "company", "co.,ltd.", "co.,ltd", "co.ltd", "coltd", "ltd.", "ltd",
    "inc.", "inc", "llc", "corp.", "corp", "co.",
)
_PUNCT = re.compile(r"[\s\.,，。·\-_()（）\[\]【】'\"“”&/]+")
# the suffixes as they appear once punctuation and spaces are gone (computed once: the import
# normalises a company name per row)
_COMPACT_SUFFIXES = tuple(_PUNCT.sub("", suffix) for suffix in _COMPANY_SUFFIXES)


def normalize_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    # NFKC folds full-width digits; it leaves ASCII as it is
    folded = phone if phone.isascii() else unicodedata.normalize("NFKC", phone)
    digits = "".join(filter(str.isdigit, folded))
    if phone.strip().startswith(("+", "＋")) and digits.startswith("86") and len(digits) > 11:
        digits = digits[2:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits or None


def normalize_email(email: str | None) -> str | None:
    if not email:
        return None
    folded = email if email.isascii() else unicodedata.normalize("NFKC", email)
    return folded.strip().lower() or None


def normalize_company(name: str | None) -> str | None:
    if not name:
        return None
    text = unicodedata.normalize("NFKC", name).lower()
    text = _PUNCT.sub("", text)
    changed = text.endswith(_COMPACT_SUFFIXES)
    while changed:
        changed = False
        for compact in _COMPACT_SUFFIXES:
            if text.endswith(compact) and len(text) > len(compact):
                text = text[: -len(compact)]
                changed = True
    return text or None
