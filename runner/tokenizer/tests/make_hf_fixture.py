#!/usr/bin/env python3
"""Writes hf_cases.json: expected token ids from Hugging Face `tokenizers` for the extra strings.

Usage: make_hf_fixture.py TOKENIZER_JSON OUT_JSON
  TOKENIZER_JSON: DeepSeek-V3's tokenizer.json (xz -dk shared/data/deepseek-v3-tokenizer/tokenizer.json.xz)

Two tokenizers are run on every string:
  "deepseek-v3":  the real DeepSeek-V3 tokenizer.json, as it is;
  "deepseek-llm": the same vocabulary and merges with the pre-tokenizer replaced by DeepSeek-V2's
                  (deepseek-llm) Split regex list (from llama.cpp's llama-vocab.cpp, the list
                  runner/tokenizer/tokenizer.cpp uses), each Split "Isolated", then ByteLevel.
The test (tokenizer_deepseek_v3) converts the V3 tokenizer.json with pre "deepseek-v3" and with
pre "deepseek-llm" and must reproduce both id lists exactly.
"""
import json
import sys

import tokenizers

V2_REGEXES = [
    "[\r\n]",
    "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF"
    "\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5"
    "\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA"
    "\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45"
    "\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE"
    "\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC"
    "\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139"
    "\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3"
    "\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06"
    "\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3"
    "\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF"
    "\U0001E900-\U0001E943]+",
    "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
    "\\s+$",
    "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
    "\\p{N}+",
]

CASES = [
    "",
    " ",
    "a",
    # CJK
    "中文测试：深度学习模型。",
    "한국어 텍스트입니다. 안녕하세요!",
    "日本語とEnglishの混合テキスト、カタカナ・ひらがな",
    "漢字かな交じり文123と全角１２３",
    # emoji
    "👍🏽 family: 👨\u200d👩\u200d👧\u200d👦 flags 🇫🇷🇩🇪",
    "😀😃😄😁 🦙🦙 ✅",
    # numbers
    "1 12 123 1234 12345 123456 1234567",
    "12345678901234567890123456789",
    "3.14159265358979 -0.5e-10 1e6 0x1F 1_000_000",
    "٣٤٥ ۱۲۳ १२३ ①②③ ½ Ⅻ ²³",
    # whitespace
    "a  b   c    d     e",
    "   leading spaces",
    "trailing spaces   ",
    "\t\t tabs \t mixed\t",
    " \n \n\n \n\n\n ",
    "line1\r\nline2\rline3\n",
    "\u00a0nbsp\u00a0and\u202fnarrow",
    "\u3000ideographic\u3000space",
    "\u2003em\u2009thin\u200bzero-width",
    "x" + " " * 40 + "y",
    "\n" * 7,
    # accents
    "Ça va? Où est l'hôtel? Ñandú, straße, ÆØÅ æøå",
    "e\u0301 combining a\u0308 o\u0302",
    "Zürich, São Paulo, Kraków, İstanbul, Þórshöfn",
    # mixed scripts
    "Привет мир! Γειά σου κόσμε! שלום עולם مرحبا بالعالم नमस्ते दुनिया",
    "ไทย ภาษาไทย ລາວ ខ្មែរ",
    "Hello世界123abc！？",
    "ａｂｃ ＡＢＣ fullwidth！＂＃",
    "\u00B5 \uA66E \u2126 \u212A \u212B \u2103 \uFB01",  # escapes: U+2126, U+212A, U+212B decompose under NFC
    "\u1FB3 \u1F7D \u1FD3 \u1FBE\u03B1 \u1FBC \u1FFC \u1FDB\u03B2 x\u2126y",
    # special tokens inside text
    "User said <｜User｜>hi<｜Assistant｜>ok<｜end▁of▁sentence｜>",
    "<｜begin▁of▁sentence｜><｜begin▁of▁sentence｜>x",
    "almost <｜User> special and <｜User｜",
    "<|EOT|> and <｜tool▁sep｜> and <｜place▁holder▁no▁42｜>",
    "a<｜fim▁hole｜>b<｜fim▁begin｜>c<｜fim▁end｜>",
    # code and punctuation
    "for (int i = 0; i < n; ++i) {\n\tx[i] += y[i];\n}\n",
    "print('hello')  # comment\n    return None\n",
    "$$\\frac{a}{b} = \\sqrt{x^2}$$",
    "a.b.c...d,,e;;f::g",
    "!!!???... ---=== ''' \"\"\" ```",
    "'s 're 've I'm you'll he'd WE'RE",
    "<html><body class=\"x\">&amp;</body></html>",
    "user@example.com #hashtag @mention",
    "a\u0085b\u2028c\u2029d\u000bx\u000cy",
]


def v2_tokenizer(path):
    tj = json.load(open(path, encoding="utf-8"))
    tj["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r}, "behavior": "Isolated", "invert": False} for r in V2_REGEXES
        ]
        + [{"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}],
    }
    return tokenizers.Tokenizer.from_str(json.dumps(tj))


def main():
    src, out = sys.argv[1], sys.argv[2]
    v3 = tokenizers.Tokenizer.from_file(src)
    v2 = v2_tokenizer(src)
    cases = []
    for text in CASES:
        cases.append({
            "text": text,
            "deepseek-v3": v3.encode(text, add_special_tokens=False).ids,
            "deepseek-llm": v2.encode(text, add_special_tokens=False).ids,
        })
    doc = {
        "about": "Expected ids from Hugging Face tokenizers " + tokenizers.__version__ +
                 " (offline, pip wheel), made by make_hf_fixture.py from DeepSeek-V3's tokenizer.json "
                 "(shared/data/deepseek-v3-tokenizer). 'deepseek-v3': that tokenizer as it is; 'deepseek-llm': "
                 "the same vocabulary with DeepSeek-V2's pre-tokenizer regex list. Regenerate: "
                 "python3 make_hf_fixture.py tokenizer.json hf_cases.json",
        "cases": cases,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
