import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { AppError } from "../../../platform/errors.ts";
import { currencyExponent, formatAmount, parseAmount } from "../../../platform/money.ts";

/**
 * The ISO 20022 messages Omnicore exchanges with a payment rail, as pure functions: XML in, typed
 * values out, and back. Builders produce messages valid against the official XSDs in `schemas/`
 * (the tests check it); parsers accept what those schemas allow for the fields we read and refuse
 * everything else with `AppError("validation")`, or `AppError("payload-too-large")` for a message
 * over `RAIL_MESSAGE_MAX_BYTES`.
 *
 * Ids: ISO ids are at most 35 characters and ours are `trf_<32 hex>` (36). `toIsoId` drops the
 * underscore (`trf0190…`, exactly 35) and `fromIsoId` puts it back, so the mapping needs no table.
 */

export const PACS008_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09";
export const PACS002_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.11";
export const PACS004_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pacs.004.001.10";
export const PACS008_MESSAGE_NAME = "pacs.008.001.09";

/** A rail message is a few kilobytes per transaction; a mebibyte is far more than we ever batch. */
export const RAIL_MESSAGE_MAX_BYTES = 1_048_576;
/** Transactions per message we accept or build; the size bound alone would allow thousands. */
export const RAIL_MESSAGE_MAX_TRANSACTIONS = 1_000;
/** The deepest path we read is 7 levels; these schemas nest under 20 in any valid message. */
const XML_NESTING_MAX = 32;

/** The common status codes; others (ACWC, PART, …) are passed through as they come. */
export type TransactionStatus = "ACCP" | "ACSP" | "ACSC" | "RJCT" | "PDNG" | (string & {});

export interface CreditTransfer {
  endToEndId: string;
  transactionId: string;
  amountMinor: bigint;
  currency: string;
  /** The interbank settlement date, `YYYY-MM-DD`. */
  settlementDate: string;
  debtorName: string;
  debtorIban: string;
  debtorAgentBic: string;
  creditorName: string;
  creditorIban: string;
  /** Unknown for a payment to another bank's IBAN; sent as `NOTPROVIDED` then (EPC convention). */
  creditorAgentBic?: string;
  /** Unstructured remittance information, at most 140 characters. */
  remittance?: string;
}

export interface Pacs008Input extends CreditTransfer {
  messageId: string;
  createdAt: Date;
}

/** A credit transfer as another bank sent it: only what a credit needs is required. */
export interface InboundCreditTransfer {
  endToEndId: string;
  transactionId?: string;
  amountMinor: bigint;
  currency: string;
  settlementDate?: string;
  debtorName?: string;
  debtorIban?: string;
  debtorAgentBic?: string;
  creditorName?: string;
  creditorIban: string;
  creditorAgentBic?: string;
  remittance?: string;
}

export interface Pacs008 {
  messageId: string;
  createdAt: Date;
  transactions: InboundCreditTransfer[];
}

export interface PaymentStatus {
  originalEndToEndId: string;
  originalTransactionId?: string;
  status: TransactionStatus;
  /** The first StsRsnInf/Rsn code, e.g. AC04 (closed account) or AM04 (insufficient funds). */
  reasonCode?: string;
}

export interface Pacs002Input {
  messageId: string;
  createdAt: Date;
  originalMessageId: string;
  /** Defaults to `pacs.008.001.09`. */
  originalMessageNameId?: string;
  statuses: PaymentStatus[];
}

export interface Pacs002 {
  messageId: string;
  createdAt: Date;
  originalMessageId: string;
  originalMessageNameId: string;
  /** Set when the rail reports on the whole message (a group rejection may list no transaction). */
  groupStatus?: TransactionStatus;
  statuses: PaymentStatus[];
}

export interface PaymentReturn {
  returnId?: string;
  originalMessageId?: string;
  originalEndToEndId: string;
  originalTransactionId?: string;
  returnedAmountMinor: bigint;
  currency: string;
  /** ExternalReturnReason1Code, e.g. AC04 (closed account), MS02 (not specified by customer). */
  reasonCode?: string;
}

export interface Pacs004Input {
  messageId: string;
  createdAt: Date;
  returns: PaymentReturn[];
}

export type Pacs004 = Pacs004Input;

// ————— Ids —————

const PREFIXED_ID = /^([a-z]{3})_([0-9a-f]{32})$/;
const ISO_ID = /^([a-z]{3})([0-9a-f]{32})$/;

/** `trf_0190…` (36 characters) as an ISO Max35Text id: `trf0190…` (35). */
export function toIsoId(id: string): string {
  const match = PREFIXED_ID.exec(id);
  if (!match) throw new AppError("validation", "The id is not a prefixed Omnicore id.");
  return `${match[1]}${match[2]}`;
}

/** The Omnicore id behind an id made by `toIsoId`, or undefined for anyone else's id. */
export function fromIsoId(isoId: string): string | undefined {
  const match = ISO_ID.exec(isoId);
  return match ? `${match[1]}_${match[2]}` : undefined;
}

// ————— Field rules shared by builders and parsers —————

const IBAN = /^[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}$/;
const BIC = /^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$/;
const CODE = /^[A-Z0-9]{1,4}$/;
const CURRENCY = /^[A-Z]{3}$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** Characters XML 1.0 cannot carry at all, not even as character references. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these control characters are exactly what XML 1.0 forbids.
const XML_ILLEGAL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
/** Amounts are at most 18 digits (ActiveCurrencyAndAmount totalDigits) with at most 5 decimals. */
const AMOUNT_DIGITS_MAX = 18;
const AMOUNT_DECIMALS_MAX = 5;
/** The only account `Othr` id a creditor agent without a BIC gets, as the EPC rulebooks do. */
export const NOT_PROVIDED = "NOTPROVIDED";

function invalid(detail: string): AppError {
  return new AppError("validation", detail);
}

function isXmlText(value: string): boolean {
  return value.isWellFormed() && !XML_ILLEGAL.test(value);
}

function isCalendarDate(value: string): boolean {
  const match = ISO_DATE.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

// ————— Building —————

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@_", processEntities: true });

type XmlTree = { [name: string]: XmlTree | XmlTree[] | string | undefined };

function xmlDocument(namespace: string, rootName: string, body: XmlTree): string {
  const tree = { Document: { "@_xmlns": namespace, [rootName]: body } };
  return `<?xml version="1.0" encoding="UTF-8"?>${builder.build(tree)}`;
}

/** An id or code exactly as given: no edge whitespace, within the schema's length. */
function idText(field: string, value: string, maxLength = 35): string {
  if (value.length < 1 || value.length > maxLength || value.trim() !== value || !isXmlText(value)) {
    throw invalid(`${field} must be 1 to ${maxLength} characters without edge whitespace.`);
  }
  return value;
}

/**
 * Free text (names, remittance) without its edge whitespace, which parsers on the other side trim
 * anyway, and with line breaks as `\n`, to which every XML parser normalises `\r\n` and `\r`;
 * both keep build → parse exact.
 */
function freeText(field: string, value: string, maxLength: number): string {
  const trimmed = value.replace(/\r\n?/g, "\n").trim();
  if (trimmed.length < 1 || trimmed.length > maxLength || !isXmlText(trimmed)) {
    throw invalid(`${field} must be 1 to ${maxLength} characters of text.`);
  }
  return trimmed;
}

function matching(field: string, value: string, pattern: RegExp): string {
  if (!pattern.test(value)) throw invalid(`${field} is not valid.`);
  return value;
}

function dateTimeText(field: string, value: Date): string {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(`${field} is not a date.`);
  return value.toISOString();
}

function dateText(field: string, value: string): string {
  if (!isCalendarDate(value)) throw invalid(`${field} must be a calendar date YYYY-MM-DD.`);
  return value;
}

/** `{"@_Ccy": "EUR", "#text": "12.50"}`, formatted exactly from minor units. */
function amountTree(field: string, amountMinor: bigint, currency: string): XmlTree {
  const exponent = currencyExponent(currency);
  if (exponent === undefined || exponent > AMOUNT_DECIMALS_MAX)
    throw invalid(`${field} currency is not supported.`);
  if (typeof amountMinor !== "bigint" || amountMinor <= 0n) throw invalid(`${field} must be positive.`);
  if (amountMinor.toString().length > AMOUNT_DIGITS_MAX) throw invalid(`${field} has too many digits.`);
  return { "@_Ccy": currency, "#text": formatAmount(amountMinor, currency) };
}

function agentTree(field: string, bic: string | undefined): XmlTree {
  if (bic === undefined) return { FinInstnId: { Othr: { Id: NOT_PROVIDED } } };
  return { FinInstnId: { BICFI: matching(field, bic, BIC) } };
}

function accountTree(field: string, iban: string): XmlTree {
  return { Id: { IBAN: matching(field, iban, IBAN) } };
}

function creditTransferTree(transfer: CreditTransfer): XmlTree {
  const remittance =
    transfer.remittance === undefined ? undefined : freeText("remittance", transfer.remittance, 140);
  return {
    PmtId: {
      EndToEndId: idText("endToEndId", transfer.endToEndId),
      TxId: idText("transactionId", transfer.transactionId),
    },
    IntrBkSttlmAmt: amountTree("amountMinor", transfer.amountMinor, transfer.currency),
    IntrBkSttlmDt: dateText("settlementDate", transfer.settlementDate),
    ChrgBr: "SLEV",
    Dbtr: { Nm: freeText("debtorName", transfer.debtorName, 140) },
    DbtrAcct: accountTree("debtorIban", transfer.debtorIban),
    DbtrAgt: agentTree("debtorAgentBic", transfer.debtorAgentBic),
    CdtrAgt: agentTree("creditorAgentBic", transfer.creditorAgentBic),
    Cdtr: { Nm: freeText("creditorName", transfer.creditorName, 140) },
    CdtrAcct: accountTree("creditorIban", transfer.creditorIban),
    RmtInf: remittance === undefined ? undefined : { Ustrd: remittance },
  };
}

/** A pacs.008.001.09 FIToFICustomerCreditTransfer with one transaction, settled through the rail. */
export function buildPacs008(input: Pacs008Input): string {
  return xmlDocument(PACS008_NAMESPACE, "FIToFICstmrCdtTrf", {
    GrpHdr: {
      MsgId: idText("messageId", input.messageId),
      CreDtTm: dateTimeText("createdAt", input.createdAt),
      NbOfTxs: "1",
      SttlmInf: { SttlmMtd: "CLRG" },
    },
    CdtTrfTxInf: creditTransferTree(input),
  });
}

function boundedList<T>(field: string, items: readonly T[]): readonly T[] {
  if (items.length < 1 || items.length > RAIL_MESSAGE_MAX_TRANSACTIONS) {
    throw invalid(`${field} must hold 1 to ${RAIL_MESSAGE_MAX_TRANSACTIONS} entries.`);
  }
  return items;
}

function statusTree(status: PaymentStatus): XmlTree {
  const reason =
    status.reasonCode === undefined ? undefined : matching("reasonCode", status.reasonCode, CODE);
  return {
    OrgnlEndToEndId: idText("originalEndToEndId", status.originalEndToEndId),
    OrgnlTxId:
      status.originalTransactionId === undefined
        ? undefined
        : idText("originalTransactionId", status.originalTransactionId),
    TxSts: matching("status", status.status, CODE),
    StsRsnInf: reason === undefined ? undefined : { Rsn: { Cd: reason } },
  };
}

/** A pacs.002.001.11 FIToFIPaymentStatusReport: one status per original transaction. */
export function buildPacs002(input: Pacs002Input): string {
  return xmlDocument(PACS002_NAMESPACE, "FIToFIPmtStsRpt", {
    GrpHdr: {
      MsgId: idText("messageId", input.messageId),
      CreDtTm: dateTimeText("createdAt", input.createdAt),
    },
    OrgnlGrpInfAndSts: {
      OrgnlMsgId: idText("originalMessageId", input.originalMessageId),
      OrgnlMsgNmId: idText("originalMessageNameId", input.originalMessageNameId ?? PACS008_MESSAGE_NAME),
    },
    TxInfAndSts: boundedList("statuses", input.statuses).map(statusTree),
  });
}

function returnTree(item: PaymentReturn): XmlTree {
  const optionalId = (field: string, value: string | undefined) =>
    value === undefined ? undefined : idText(field, value);
  const reason = item.reasonCode === undefined ? undefined : matching("reasonCode", item.reasonCode, CODE);
  return {
    RtrId: optionalId("returnId", item.returnId),
    OrgnlGrpInf:
      item.originalMessageId === undefined
        ? undefined
        : {
            OrgnlMsgId: idText("originalMessageId", item.originalMessageId),
            OrgnlMsgNmId: PACS008_MESSAGE_NAME,
          },
    OrgnlEndToEndId: idText("originalEndToEndId", item.originalEndToEndId),
    OrgnlTxId: optionalId("originalTransactionId", item.originalTransactionId),
    RtrdIntrBkSttlmAmt: amountTree("returnedAmountMinor", item.returnedAmountMinor, item.currency),
    RtrRsnInf: reason === undefined ? undefined : { Rsn: { Cd: reason } },
  };
}

/** A pacs.004.001.10 PaymentReturn of earlier credit transfers. */
export function buildPacs004(input: Pacs004Input): string {
  const returns = boundedList("returns", input.returns);
  return xmlDocument(PACS004_NAMESPACE, "PmtRtr", {
    GrpHdr: {
      MsgId: idText("messageId", input.messageId),
      CreDtTm: dateTimeText("createdAt", input.createdAt),
      NbOfTxs: String(returns.length),
      SttlmInf: { SttlmMtd: "CLRG" },
    },
    TxInf: returns.map(returnTree),
  });
}

// ————— Parsing —————

type XmlElement = { readonly [name: string]: unknown };

/**
 * Entities stay unexpanded (`processEntities: false`) and documents with a DOCTYPE are refused
 * before parsing, so no entity can expand; the five predefined entities and character references
 * are decoded by `decodeText`, which can only shorten a text. Every element is an array so that a
 * repeated element the schema allows once is noticed instead of silently overwriting the first.
 */
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  trimValues: true,
  alwaysCreateTextNode: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: XML_NESTING_MAX,
  isArray: (_name, _path, _isLeaf, isAttribute) => !isAttribute,
});

const PREDEFINED_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const REFERENCE = /&(?:#(\d{1,7})|#x([0-9a-fA-F]{1,6})|(amp|lt|gt|quot|apos));/g;
const STRAY_AMPERSAND = /&(?!(?:#\d{1,7}|#x[0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos);)/;

function decodeText(raw: string, field: string): string {
  if (STRAY_AMPERSAND.test(raw)) throw invalid(`${field} contains an unknown entity.`);
  let decoded: string;
  try {
    decoded = raw.replace(REFERENCE, (_match, decimal?: string, hex?: string, name?: string) =>
      name
        ? (PREDEFINED_ENTITIES[name] ?? "")
        : String.fromCodePoint(decimal ? Number(decimal) : Number.parseInt(hex ?? "", 16)),
    );
  } catch {
    throw invalid(`${field} contains an invalid character reference.`);
  }
  if (!isXmlText(decoded)) throw invalid(`${field} contains characters XML does not allow.`);
  return decoded;
}

/** Reads elements of one namespace prefix, with the schema's cardinalities checked on the way. */
class XmlReader {
  readonly #prefix: string;
  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  all(node: XmlElement, name: string): XmlElement[] {
    const key = this.#prefix + name;
    const value = Object.hasOwn(node, key) ? node[key] : undefined;
    return Array.isArray(value) ? (value as XmlElement[]) : [];
  }

  /** The element at `path` (names joined by `/`), each step present at most once. */
  find(node: XmlElement, path: string): XmlElement | undefined {
    let current: XmlElement | undefined = node;
    for (const name of path.split("/")) {
      if (current === undefined) return undefined;
      const found = this.all(current, name);
      if (found.length > 1) throw invalid(`${name} may appear only once.`);
      current = found[0];
    }
    return current;
  }

  require(node: XmlElement, path: string): XmlElement {
    const found = this.find(node, path);
    if (found === undefined) throw invalid(`${path} is required.`);
    return found;
  }

  /** The decoded text of `element`, required to be 1 to `maxLength` characters. */
  textOf(element: XmlElement, path: string, maxLength: number): string {
    const raw = element["#text"];
    const text = typeof raw === "string" ? decodeText(raw, path) : "";
    if (text.length < 1 || text.length > maxLength)
      throw invalid(`${path} must be 1 to ${maxLength} characters.`);
    return text;
  }

  optionalText(node: XmlElement, path: string, maxLength: number): string | undefined {
    const element = this.find(node, path);
    return element === undefined ? undefined : this.textOf(element, path, maxLength);
  }

  text(node: XmlElement, path: string, maxLength: number): string {
    const text = this.optionalText(node, path, maxLength);
    if (text === undefined) throw invalid(`${path} is required.`);
    return text;
  }

  matchingText(node: XmlElement, path: string, pattern: RegExp): string | undefined {
    const text = this.optionalText(node, path, 70);
    if (text !== undefined && !pattern.test(text)) throw invalid(`${path} is not valid.`);
    return text;
  }
}

function checkedInput(xml: unknown): string {
  if (typeof xml !== "string") throw invalid("The message is not text.");
  if (xml.length > RAIL_MESSAGE_MAX_BYTES || Buffer.byteLength(xml, "utf8") > RAIL_MESSAGE_MAX_BYTES) {
    throw new AppError("payload-too-large", `The message exceeds ${RAIL_MESSAGE_MAX_BYTES} bytes.`);
  }
  // A payment message never needs a DTD; refusing one closes every entity-expansion attack.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw invalid("Document type declarations are not accepted.");
  if (XMLValidator.validate(xml) !== true) throw invalid("The message is not well-formed XML.");
  return xml;
}

function parseTree(xml: string): XmlElement {
  try {
    return parser.parse(xml) as XmlElement;
  } catch {
    throw invalid("The message is not well-formed XML.");
  }
}

/** The message's root element under `Document`, after checking it is in `namespace`. */
function openDocument(
  xml: unknown,
  namespace: string,
  rootName: string,
): { reader: XmlReader; root: XmlElement } {
  const tree = parseTree(checkedInput(xml));
  const names = Object.keys(tree).filter((key) => key !== "#text");
  const match = names.length === 1 ? /^(?:([A-Za-z_][\w.-]*):)?Document$/.exec(names[0] ?? "") : null;
  const documents = match ? (tree[match[0]] as XmlElement[]) : [];
  const document = documents.length === 1 ? documents[0] : undefined;
  if (!match || !document) throw invalid("The message has no ISO 20022 Document.");
  const prefix = match[1] === undefined ? "" : `${match[1]}:`;
  const declared = document[match[1] === undefined ? "@_xmlns" : `@_xmlns:${match[1]}`];
  if (declared !== namespace) throw invalid(`The message is not in the namespace ${namespace}.`);
  const reader = new XmlReader(prefix);
  return { reader, root: reader.require(document, rootName) };
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$/;

/** A time without an offset is ambiguous; it is read as UTC, never as this machine's zone. */
function parseDateTime(text: string, field: string): Date {
  const match = DATE_TIME.exec(text);
  const date = match ? new Date(match[1] ? text : `${text}Z`) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw invalid(`${field} is not an ISO date-time.`);
  return date;
}

function parseDate(text: string | undefined, field: string): string | undefined {
  if (text === undefined) return undefined;
  const date = /^(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?$/.exec(text)?.[1];
  if (!date || !isCalendarDate(date)) throw invalid(`${field} is not an ISO date.`);
  return date;
}

/** An amount element: the decimal read exactly into minor units of its `Ccy`. */
function parseAmountElement(
  reader: XmlReader,
  node: XmlElement,
  path: string,
): { amountMinor: bigint; currency: string } {
  const element = reader.require(node, path);
  const currency = element["@_Ccy"];
  if (typeof currency !== "string" || !CURRENCY.test(currency)) throw invalid(`${path} has no valid Ccy.`);
  const text = reader.text(node, path, 40);
  // xs:decimal also allows "+5", "5." and ".5"; they are normalised before the exact parse.
  const match = /^\+?(\d*)(?:\.(\d*))?$/.exec(text);
  if (!match || (match[1] === "" && !match[2]) || (match[2]?.length ?? 0) > AMOUNT_DECIMALS_MAX) {
    throw invalid(`${path} is not a valid amount.`);
  }
  const normalized = match[2] ? `${match[1] || "0"}.${match[2]}` : match[1] || "0";
  const parsed = parseAmount(normalized, currency);
  if (!parsed.ok) throw invalid(`${path} is not a valid ${currency} amount (${parsed.reason}).`);
  if (parsed.money.amountMinor <= 0n) throw invalid(`${path} must be positive.`);
  return { amountMinor: parsed.money.amountMinor, currency };
}

function boundedElements(reader: XmlReader, node: XmlElement, name: string, minimum: number): XmlElement[] {
  const elements = reader.all(node, name);
  if (elements.length < minimum) throw invalid(`${name} is required.`);
  if (elements.length > RAIL_MESSAGE_MAX_TRANSACTIONS) throw invalid(`Too many ${name} elements.`);
  return elements;
}

function groupHeader(reader: XmlReader, root: XmlElement): { messageId: string; createdAt: Date } {
  const header = reader.require(root, "GrpHdr");
  return {
    messageId: reader.text(header, "MsgId", 35),
    createdAt: parseDateTime(reader.text(header, "CreDtTm", 40), "GrpHdr/CreDtTm"),
  };
}

function agentBic(reader: XmlReader, transaction: XmlElement, agent: string): string | undefined {
  return reader.matchingText(transaction, `${agent}/FinInstnId/BICFI`, BIC);
}

/** The schema allows several unstructured lines; we send one and read the first. */
function firstRemittanceLine(reader: XmlReader, transaction: XmlElement): string | undefined {
  const remittance = reader.find(transaction, "RmtInf");
  const first = remittance ? reader.all(remittance, "Ustrd")[0] : undefined;
  return first ? reader.textOf(first, "RmtInf/Ustrd", 140) : undefined;
}

function parseCreditTransfer(reader: XmlReader, transaction: XmlElement): InboundCreditTransfer {
  const creditorIban = reader.matchingText(transaction, "CdtrAcct/Id/IBAN", IBAN);
  if (creditorIban === undefined) throw invalid("CdtrAcct/Id/IBAN is required.");
  return {
    endToEndId: reader.text(transaction, "PmtId/EndToEndId", 35),
    transactionId: reader.optionalText(transaction, "PmtId/TxId", 35),
    ...parseAmountElement(reader, transaction, "IntrBkSttlmAmt"),
    settlementDate: parseDate(reader.optionalText(transaction, "IntrBkSttlmDt", 20), "IntrBkSttlmDt"),
    debtorName: reader.optionalText(transaction, "Dbtr/Nm", 140),
    debtorIban: reader.matchingText(transaction, "DbtrAcct/Id/IBAN", IBAN),
    debtorAgentBic: agentBic(reader, transaction, "DbtrAgt"),
    creditorName: reader.optionalText(transaction, "Cdtr/Nm", 140),
    creditorIban,
    creditorAgentBic: agentBic(reader, transaction, "CdtrAgt"),
    remittance: firstRemittanceLine(reader, transaction),
  };
}

/** An inbound pacs.008.001.09: another bank credits one of our customers. */
export function parsePacs008(xml: unknown): Pacs008 {
  const { reader, root } = openDocument(xml, PACS008_NAMESPACE, "FIToFICstmrCdtTrf");
  const transactions = boundedElements(reader, root, "CdtTrfTxInf", 1);
  return {
    ...groupHeader(reader, root),
    transactions: transactions.map((tx) => parseCreditTransfer(reader, tx)),
  };
}

function reasonCode(reader: XmlReader, node: XmlElement, name: string): string | undefined {
  const reasons = reader.all(node, name);
  const reason = reasons[0];
  if (reason === undefined) return undefined;
  return reader.matchingText(reason, "Rsn/Cd", CODE) ?? reader.optionalText(reason, "Rsn/Prtry", 35);
}

function parseStatus(reader: XmlReader, entry: XmlElement, groupStatus: string | undefined): PaymentStatus {
  const status = reader.matchingText(entry, "TxSts", CODE) ?? groupStatus;
  if (status === undefined) throw invalid("TxInfAndSts/TxSts is required.");
  return {
    originalEndToEndId: reader.text(entry, "OrgnlEndToEndId", 35),
    originalTransactionId: reader.optionalText(entry, "OrgnlTxId", 35),
    status,
    reasonCode: reasonCode(reader, entry, "StsRsnInf"),
  };
}

/** A pacs.002.001.11 status report on a message we sent. */
export function parsePacs002(xml: unknown): Pacs002 {
  const { reader, root } = openDocument(xml, PACS002_NAMESPACE, "FIToFIPmtStsRpt");
  const group = boundedElements(reader, root, "OrgnlGrpInfAndSts", 0)[0];
  const entries = boundedElements(reader, root, "TxInfAndSts", group ? 0 : 1);
  const groupStatus = group ? reader.matchingText(group, "GrpSts", CODE) : undefined;
  const originalMessageId =
    (group && reader.optionalText(group, "OrgnlMsgId", 35)) ??
    (entries[0] && reader.optionalText(entries[0], "OrgnlGrpInf/OrgnlMsgId", 35));
  if (originalMessageId === undefined) throw invalid("OrgnlGrpInfAndSts/OrgnlMsgId is required.");
  const originalMessageNameId =
    (group && reader.optionalText(group, "OrgnlMsgNmId", 35)) ??
    (entries[0] && reader.optionalText(entries[0], "OrgnlGrpInf/OrgnlMsgNmId", 35));
  return {
    ...groupHeader(reader, root),
    originalMessageId,
    originalMessageNameId: originalMessageNameId ?? PACS008_MESSAGE_NAME,
    groupStatus,
    statuses: entries.map((entry) => parseStatus(reader, entry, groupStatus)),
  };
}

function parseReturn(
  reader: XmlReader,
  entry: XmlElement,
  groupMessageId: string | undefined,
): PaymentReturn {
  const amount = parseAmountElement(reader, entry, "RtrdIntrBkSttlmAmt");
  return {
    returnId: reader.optionalText(entry, "RtrId", 35),
    originalMessageId: reader.optionalText(entry, "OrgnlGrpInf/OrgnlMsgId", 35) ?? groupMessageId,
    originalEndToEndId: reader.text(entry, "OrgnlEndToEndId", 35),
    originalTransactionId: reader.optionalText(entry, "OrgnlTxId", 35),
    returnedAmountMinor: amount.amountMinor,
    currency: amount.currency,
    reasonCode: reasonCode(reader, entry, "RtrRsnInf"),
  };
}

/** A pacs.004.001.10 return of credit transfers we sent. */
export function parsePacs004(xml: unknown): Pacs004 {
  const { reader, root } = openDocument(xml, PACS004_NAMESPACE, "PmtRtr");
  const entries = boundedElements(reader, root, "TxInf", 1);
  const groupMessageId = reader.optionalText(root, "OrgnlGrpInf/OrgnlMsgId", 35);
  return {
    ...groupHeader(reader, root),
    returns: entries.map((entry) => parseReturn(reader, entry, groupMessageId)),
  };
}
