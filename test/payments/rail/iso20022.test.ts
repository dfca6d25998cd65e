import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildPacs002,
  buildPacs004,
  buildPacs008,
  fromIsoId,
  type Pacs002Input,
  type Pacs004Input,
  type Pacs008Input,
  parsePacs002,
  parsePacs004,
  parsePacs008,
  RAIL_MESSAGE_MAX_BYTES,
  toIsoId,
} from "../../../src/modules/payments/rail/iso20022.ts";
import { AppError, type ProblemSlug } from "../../../src/platform/errors.ts";
import { xsdErrors } from "./xsd.ts";

const TRANSFER_ID = "trf_019b3f2e7c4a7d1e9f3b5a7c9d1e3f50";

function creditTransfer(overrides: Partial<Pacs008Input> = {}): Pacs008Input {
  return {
    messageId: toIsoId(TRANSFER_ID),
    endToEndId: toIsoId(TRANSFER_ID),
    transactionId: toIsoId(TRANSFER_ID),
    createdAt: new Date("2026-03-04T10:11:12.345Z"),
    settlementDate: "2026-03-04",
    amountMinor: 12_550n,
    currency: "EUR",
    debtorName: "Ada Lovelace",
    debtorIban: "DE89370400440532013000",
    debtorAgentBic: "OMNIDEFFXXX",
    creditorName: "Charles Babbage",
    creditorIban: "FR1420041010050500013M02606",
    creditorAgentBic: "BNPAFRPPXXX",
    remittance: "Invoice 2026-031",
    ...overrides,
  };
}

function statusReport(overrides: Partial<Pacs002Input> = {}): Pacs002Input {
  return {
    messageId: "0f6a3c1d2e4b4a7f9c8d7e6f5a4b3c2d",
    createdAt: new Date("2026-03-04T10:11:13.000Z"),
    originalMessageId: toIsoId(TRANSFER_ID),
    originalMessageNameId: "pacs.008.001.09",
    statuses: [
      { originalEndToEndId: "E2E-1", originalTransactionId: "TX-1", status: "ACSC" },
      { originalEndToEndId: "E2E-2", originalTransactionId: "TX-2", status: "RJCT", reasonCode: "AC04" },
    ],
    ...overrides,
  };
}

function paymentReturn(overrides: Partial<Pacs004Input> = {}): Pacs004Input {
  return {
    messageId: "RTN-1",
    createdAt: new Date("2026-03-05T08:00:00.000Z"),
    returns: [
      {
        returnId: "RTR-1",
        originalMessageId: toIsoId(TRANSFER_ID),
        originalEndToEndId: toIsoId(TRANSFER_ID),
        originalTransactionId: toIsoId(TRANSFER_ID),
        returnedAmountMinor: 12_550n,
        currency: "EUR",
        reasonCode: "AC04",
      },
    ],
    ...overrides,
  };
}

/** The parsed form of a message built from `input`: what a round trip must give back exactly. */
function expectedPacs008(input: Pacs008Input) {
  const { messageId, createdAt, ...transaction } = input;
  return { messageId, createdAt, transactions: [transaction] };
}

function refusal(action: () => unknown): AppError {
  try {
    action();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw new Error(`expected an AppError, got ${String(error)}`);
  }
  throw new Error("expected the message to be refused");
}

function expectRefused(action: () => unknown, slug: ProblemSlug = "validation"): void {
  expect(refusal(action).slug).toBe(slug);
}

describe("pacs.008 against the official pacs.008.001.09 XSD (acceptance)", () => {
  it("the pacs.008 we build is valid", () => {
    expect(xsdErrors(buildPacs008(creditTransfer()), "pacs.008.001.09")).toEqual([]);
  });

  it("is valid without a creditor agent BIC (NOTPROVIDED) and without remittance", () => {
    const xml = buildPacs008(creditTransfer({ creditorAgentBic: undefined, remittance: undefined }));
    expect(xml).toContain("<Othr><Id>NOTPROVIDED</Id></Othr>");
    expect(xsdErrors(xml, "pacs.008.001.09")).toEqual([]);
  });

  it("is valid with text that must be escaped", () => {
    const xml = buildPacs008(creditTransfer({ debtorName: `O'Brien & <Sons> "Ltd"`, remittance: "a<b>&c" }));
    expect(xml).toContain("O&apos;Brien &amp; &lt;Sons&gt; &quot;Ltd&quot;");
    expect(xsdErrors(xml, "pacs.008.001.09")).toEqual([]);
  });

  // The validation is real: each of these breaks one rule of the schema and must be caught.
  const breakages: Array<[string, (xml: string) => string, string]> = [
    ["a required element is missing", (xml) => xml.replace("<ChrgBr>SLEV</ChrgBr>", ""), "ChrgBr"],
    [
      "a code is outside its enumeration",
      (xml) => xml.replace("<SttlmMtd>CLRG", "<SttlmMtd>CASH"),
      "SttlmMtd",
    ],
    ["a BIC breaks its pattern", (xml) => xml.replace("OMNIDEFFXXX", "omni-de"), "BICFI"],
    ["an amount has six decimals", (xml) => xml.replace(">125.50<", ">125.500001<"), "IntrBkSttlmAmt"],
    ["an id is longer than 35", (xml) => xml.replace("<TxId>", `<TxId>${"x".repeat(30)}`), "TxId"],
    [
      "elements are out of order",
      (xml) => xml.replace(/(<Dbtr>.*?<\/Dbtr>)(<DbtrAcct>.*?<\/DbtrAcct>)/, "$2$1"),
      "DbtrAcct",
    ],
    ["the namespace is wrong", (xml) => xml.replace("pacs.008.001.09", "pacs.008.001.08"), "Document"],
  ];

  it.each(breakages)("a message where %s fails validation", (_what, breakMessage, element) => {
    const broken = breakMessage(buildPacs008(creditTransfer()));
    expect(broken).not.toBe(buildPacs008(creditTransfer()));
    const errors = xsdErrors(broken, "pacs.008.001.09");
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join("\n")).toContain(element);
  });
});

describe("pacs.002 and pacs.004 against their official XSDs", () => {
  it("a built pacs.002.001.11 is valid", () => {
    expect(xsdErrors(buildPacs002(statusReport()), "pacs.002.001.11")).toEqual([]);
  });

  it("a built pacs.004.001.10 is valid", () => {
    expect(xsdErrors(buildPacs004(paymentReturn()), "pacs.004.001.10")).toEqual([]);
  });

  it("a pacs.004 missing its returned amount is not", () => {
    const broken = buildPacs004(paymentReturn()).replace(
      /<RtrdIntrBkSttlmAmt[^>]*>[^<]*<\/RtrdIntrBkSttlmAmt>/,
      "",
    );
    expect(xsdErrors(broken, "pacs.004.001.10").join("\n")).toContain("RtrRsnInf");
  });
});

describe("round trips keep every field exactly", () => {
  it("pacs.008: build then parse gives the input back", () => {
    const input = creditTransfer();
    expect(parsePacs008(buildPacs008(input))).toEqual(expectedPacs008(input));
  });

  it("pacs.008 without the optional parts", () => {
    const input = creditTransfer({ creditorAgentBic: undefined, remittance: undefined });
    expect(parsePacs008(buildPacs008(input))).toEqual(expectedPacs008(input));
  });

  it("pacs.002: build then parse gives the input back", () => {
    const input = statusReport();
    expect(parsePacs002(buildPacs002(input))).toEqual({ ...input, groupStatus: undefined });
  });

  it("pacs.004: build then parse gives the input back", () => {
    const input = paymentReturn();
    expect(parsePacs004(buildPacs004(input))).toEqual(input);
  });

  const currencies = fc.constantFrom("JPY", "EUR", "BHD", "USD", "KWD", "KRW");

  it("any amount from 1 to 10^15 minor units in currencies of exponent 0, 2 and 3", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 15n }), currencies, (amountMinor, currency) => {
        const input = creditTransfer({ amountMinor, currency });
        const xml = buildPacs008(input);
        expect(parsePacs008(xml).transactions[0]).toMatchObject({ amountMinor, currency });
        expect(xsdErrors(xml, "pacs.008.001.09")).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it("returned amounts round-trip exactly too", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 15n }), currencies, (returnedAmountMinor, currency) => {
        const input = paymentReturn();
        const returns = [{ ...input.returns[0]!, returnedAmountMinor, currency }];
        expect(parsePacs004(buildPacs004({ ...input, returns })).returns[0]).toMatchObject({
          returnedAmountMinor,
          currency,
        });
      }),
    );
  });

  it("any text a name or remittance may hold, markup characters included", () => {
    // Markup characters often, then any character XML 1.0 can carry (BMP and astral).
    const character = fc.oneof(
      fc.constantFrom("&", "<", ">", '"', "'", " ", "\t", "\n", "\r\n", "]]>", "&amp;"),
      fc.integer({ min: 0x20, max: 0xd7ff }).map((code) => String.fromCharCode(code)),
      fc.integer({ min: 0xe000, max: 0xfffd }).map((code) => String.fromCharCode(code)),
      fc.integer({ min: 0x10000, max: 0x10ffff }).map((code) => String.fromCodePoint(code)),
    );
    const text = fc
      .string({ unit: character, minLength: 1, maxLength: 70 })
      .map((value) => value.replace(/\r\n?/g, "\n").trim())
      .filter((value) => value.length > 0 && value.length <= 140);
    fc.assert(
      fc.property(text, text, (debtorName, remittance) => {
        const input = creditTransfer({ debtorName, remittance });
        const xml = buildPacs008(input);
        expect(parsePacs008(xml)).toEqual(expectedPacs008(input));
        expect(xsdErrors(xml, "pacs.008.001.09")).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});

describe("ids", () => {
  it("maps a prefixed id to 35 characters and back", () => {
    const isoId = toIsoId(TRANSFER_ID);
    expect(isoId).toBe("trf019b3f2e7c4a7d1e9f3b5a7c9d1e3f50");
    expect(isoId).toHaveLength(35);
    expect(fromIsoId(isoId)).toBe(TRANSFER_ID);
  });

  it("does not claim ids that are not ours", () => {
    expect(fromIsoId("E2E-FROM-ANOTHER-BANK")).toBeUndefined();
    expectRefused(() => toIsoId("not-an-id"));
  });
});

describe("messages from other banks", () => {
  const pretty = `<?xml version="1.0" encoding="UTF-8"?>
<!-- sent by another bank -->
<ns2:Document xmlns:ns2="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09">
  <ns2:FIToFICstmrCdtTrf>
    <ns2:GrpHdr>
      <ns2:MsgId>OTHERBANK-0001</ns2:MsgId>
      <ns2:CreDtTm>2026-03-04T11:12:13+01:00</ns2:CreDtTm>
      <ns2:NbOfTxs>1</ns2:NbOfTxs>
      <ns2:SttlmInf><ns2:SttlmMtd>CLRG</ns2:SttlmMtd></ns2:SttlmInf>
    </ns2:GrpHdr>
    <ns2:CdtTrfTxInf>
      <ns2:PmtId><ns2:EndToEndId>NOTPROVIDED</ns2:EndToEndId></ns2:PmtId>
      <ns2:IntrBkSttlmAmt Ccy="EUR">1000</ns2:IntrBkSttlmAmt>
      <ns2:ChrgBr>SLEV</ns2:ChrgBr>
      <ns2:Dbtr><ns2:Nm>Ren&#233;e &amp; Co</ns2:Nm></ns2:Dbtr>
      <ns2:DbtrAgt><ns2:FinInstnId><ns2:BICFI>COBADEFFXXX</ns2:BICFI></ns2:FinInstnId></ns2:DbtrAgt>
      <ns2:CdtrAgt><ns2:FinInstnId><ns2:BICFI>OMNIDEFF</ns2:BICFI></ns2:FinInstnId></ns2:CdtrAgt>
      <ns2:Cdtr><ns2:Nm>Ada Lovelace</ns2:Nm></ns2:Cdtr>
      <ns2:CdtrAcct><ns2:Id><ns2:IBAN>DE89370400440532013000</ns2:IBAN></ns2:Id></ns2:CdtrAcct>
      <ns2:RmtInf><ns2:Ustrd>first line</ns2:Ustrd><ns2:Ustrd>second line</ns2:Ustrd></ns2:RmtInf>
    </ns2:CdtTrfTxInf>
  </ns2:FIToFICstmrCdtTrf>
</ns2:Document>`;

  it("reads a prefixed, indented message with character references", () => {
    expect(xsdErrors(pretty, "pacs.008.001.09")).toEqual([]);
    const message = parsePacs008(pretty);
    expect(message.messageId).toBe("OTHERBANK-0001");
    expect(message.createdAt.toISOString()).toBe("2026-03-04T10:12:13.000Z");
    expect(message.transactions).toEqual([
      {
        endToEndId: "NOTPROVIDED",
        amountMinor: 100_000n,
        currency: "EUR",
        debtorName: "Renée & Co",
        debtorAgentBic: "COBADEFFXXX",
        creditorName: "Ada Lovelace",
        creditorIban: "DE89370400440532013000",
        creditorAgentBic: "OMNIDEFF",
        remittance: "first line",
      },
    ]);
  });

  it("reads a time without an offset as UTC", () => {
    const xml = pretty.replace("2026-03-04T11:12:13+01:00", "2026-03-04T11:12:13");
    expect(parsePacs008(xml).createdAt.toISOString()).toBe("2026-03-04T11:12:13.000Z");
  });

  it("reads a group-level rejection that lists no transaction", () => {
    const xml = `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.11"><FIToFIPmtStsRpt>
      <GrpHdr><MsgId>S1</MsgId><CreDtTm>2026-03-04T10:00:00Z</CreDtTm></GrpHdr>
      <OrgnlGrpInfAndSts><OrgnlMsgId>M1</OrgnlMsgId><OrgnlMsgNmId>pacs.008.001.09</OrgnlMsgNmId><GrpSts>RJCT</GrpSts>
      <StsRsnInf><Rsn><Cd>FF01</Cd></Rsn></StsRsnInf></OrgnlGrpInfAndSts></FIToFIPmtStsRpt></Document>`;
    expect(xsdErrors(xml, "pacs.002.001.11")).toEqual([]);
    expect(parsePacs002(xml)).toMatchObject({ originalMessageId: "M1", groupStatus: "RJCT", statuses: [] });
  });
});

describe("garbage is refused with a typed error", () => {
  const valid = buildPacs008(creditTransfer());

  const garbage: Array<[string, unknown]> = [
    ["not a string", 42],
    ["empty", ""],
    ["plain text", "hello, rail"],
    ["JSON", '{"amount":"1.00"}'],
    ["unclosed XML", "<Document><FIToFICstmrCdtTrf>"],
    ["mismatched tags", "<a><b></a></b>"],
    ["another message type", buildPacs002(statusReport())],
    ["the wrong namespace", valid.replace("pacs.008.001.09", "pacs.008.001.08")],
    ["no namespace", valid.replace(/ xmlns="[^"]*"/, "")],
    ["two Documents", `<r>${valid.replace(/<\?xml[^>]*>/, "")}</r>`],
    ["a missing required element", valid.replace(/<EndToEndId>[^<]*<\/EndToEndId>/, "")],
    ["a duplicated element", valid.replace("<TxId>", "<TxId>a</TxId><TxId>")],
    ["a missing creditor IBAN", valid.replace(/<CdtrAcct>.*<\/CdtrAcct>/, "")],
    ["a negative amount", valid.replace(">125.50<", ">-125.50<")],
    ["a zero amount", valid.replace(">125.50<", ">0.00<")],
    ["too many decimals for EUR", valid.replace(">125.50<", ">125.505<")],
    ["an exponent", valid.replace(">125.50<", ">1.2555e2<")],
    ["an unknown currency", valid.replace('Ccy="EUR"', 'Ccy="ABC"')],
    ["a malformed IBAN", valid.replace("FR1420041010050500013M02606", "not an iban")],
    ["an impossible date", valid.replace(">2026-03-04<", ">2026-02-30<")],
    ["an unknown entity", valid.replace("Ada Lovelace", "Ada &nbsp; Lovelace")],
    ["a NUL character reference", valid.replace("Ada Lovelace", "Ada &#0; Lovelace")],
    ["a character reference beyond Unicode", valid.replace("Ada Lovelace", "Ada &#x110000; Lovelace")],
    ["nesting beyond any schema", `<Document>${"<a>".repeat(100)}${"</a>".repeat(100)}</Document>`],
  ];

  it.each(garbage)("%s", (_what, xml) => {
    expectRefused(() => parsePacs008(xml));
  });

  it("entity definitions are refused before they can expand (billion laughs)", () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from(
      { length: 9 },
      (_, level) => `<!ENTITY lol${level + 1} "${`&lol${level || ""};`.repeat(10)}">`,
    ).join("")}]>`;
    const xml = valid
      .replace('<?xml version="1.0" encoding="UTF-8"?>', laughs)
      .replace("Ada Lovelace", "&lol9;");
    expect(refusal(() => parsePacs008(xml)).message).toContain("Document type");
  });

  it("external entities are refused (XXE)", () => {
    const xml = valid.replace(
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    );
    expectRefused(() => parsePacs008(xml.replace("Ada Lovelace", "&x;")));
  });

  it("an oversized message is refused before it is parsed", () => {
    const padding = `<!--${"x".repeat(RAIL_MESSAGE_MAX_BYTES)}-->`;
    expectRefused(() => parsePacs008(valid + padding), "payload-too-large");
    expectRefused(() => parsePacs002(padding), "payload-too-large");
    expectRefused(() => parsePacs004(padding), "payload-too-large");
  });

  it("the other parsers refuse garbage too", () => {
    for (const xml of ["", "<x/>", valid]) {
      expectRefused(() => parsePacs002(xml));
      expectRefused(() => parsePacs004(xml));
    }
  });
});

describe("builders refuse what the schema would not accept", () => {
  const cases: Array<[string, Partial<Pacs008Input>]> = [
    ["a 36-character id", { endToEndId: TRANSFER_ID }],
    ["an id with edge whitespace", { messageId: " M1" }],
    ["a zero amount", { amountMinor: 0n }],
    ["a negative amount", { amountMinor: -1n }],
    ["more than 18 digits", { amountMinor: 10n ** 18n }],
    ["an unknown currency", { currency: "XXX" }],
    ["a malformed IBAN", { debtorIban: "DE89 3704" }],
    ["a malformed BIC", { debtorAgentBic: "OMNI" }],
    ["remittance over 140 characters", { remittance: "x".repeat(141) }],
    ["an empty name", { creditorName: "   " }],
    ["a control character", { debtorName: "Ada\u0007" }],
    ["an impossible settlement date", { settlementDate: "2026-13-01" }],
    ["an invalid creation time", { createdAt: new Date(Number.NaN) }],
  ];

  it.each(cases)("%s", (_what, overrides) => {
    expectRefused(() => buildPacs008(creditTransfer(overrides)));
  });

  it("trims edge whitespace of free text", () => {
    const parsed = parsePacs008(buildPacs008(creditTransfer({ creditorName: "  Charles Babbage \n" })));
    expect(parsed.transactions[0]?.creditorName).toBe("Charles Babbage");
  });

  it("refuses an empty status report and a malformed status code", () => {
    expectRefused(() => buildPacs002(statusReport({ statuses: [] })));
    const statuses = [{ originalEndToEndId: "E", status: "accepted" }];
    expectRefused(() => buildPacs002(statusReport({ statuses })));
  });
});
