"""Unlabelled pages: a Chinese page that detection misreads as another
codec is read as Chinese; European and Japanese pages keep their codec."""

from __future__ import annotations

import pytest

from monitor.textdecode import choose_encoding, decode_html

CHINESE = "某快递公司用户信息遭泄露 警方已立案"


def page(text: str, title: str = "新闻") -> str:
    return f"<html><head><title>{title}</title></head><body><p>{text}</p></body></html>"


def test_unlabelled_gb18030_page_misdetected_as_shift_jis_is_read_as_chinese():
    body = page(CHINESE).encode("gb18030")
    assert choose_encoding(body, "text/html") == "gb18030"
    assert CHINESE in decode_html(body, "text/html")


def test_unlabelled_big5_page_is_read_as_big5():
    text = "警方表示，這家公司的客戶資料遭到洩露，目前正在調查人臉辨識系統。"
    body = page(text, title="新聞").encode("big5hkscs")
    assert text in decode_html(body, None)


@pytest.mark.parametrize(
    "text, codec",
    [
        (
            "Zażółć gęślą jaźń: prezydent odwiedził szkołę, gdzie kamery rozpoznają twarze.",
            "cp1250",
        ),
        ("これは日本語の記事です。顔認証カメラが駅に設置されました。", "shift_jis"),
    ],
)
def test_european_and_japanese_pages_keep_their_codec(text, codec):
    body = page(text, title="x").encode(codec)
    assert text in decode_html(body, None)
