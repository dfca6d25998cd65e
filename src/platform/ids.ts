import { v7 as uuidv7 } from "uuid";

/**
 * Every id carries a prefix that names what it identifies (`cus_`, `acc_`, `trf_` …) and a
 * UUIDv7 underneath, so ids sort by creation time and a misplaced id is caught at a glance.
 */
export type IdPrefix =
  | "cus"
  | "acc"
  | "trf"
  | "dep"
  | "wdl"
  | "jrn"
  | "pst"
  | "hld"
  | "ses"
  | "rtk"
  | "stf"
  | "evt"
  | "key"
  | "req"
  | "pky"
  | "rcv"
  | "chl"
  | "pye"
  | "sto"
  /** A workflow run, and an onboarding application. */
  | "wfr"
  | "onb"
  /** A fraud investigation case, and a note on one. */
  | "cas"
  | "fcn"
  /** A fraud decision about a payment. */
  | "fdc"
  /** Sanctions and PEP screening: a screening of a customer, a hit, a watch-list version. */
  | "scr"
  | "sch"
  | "slv"
  /** AML monitoring: an alert, a compliance case, a note on one, a suspicious-activity report. */
  | "aal"
  | "cmc"
  | "cmn"
  | "sar"
  /** Legacy-mastered accounts: a mirrored account, a payment from one, a reconciliation run and break. */
  | "lac"
  | "lpm"
  | "lrr"
  | "lrb"
  /** Notifications: a notification, one delivery of it, a device push token. */
  | "ntf"
  | "ndl"
  | "ptk";

export interface IdGenerator {
  next(prefix: IdPrefix): string;
}

export const uuidV7Ids: IdGenerator = {
  next: (prefix) => `${prefix}_${uuidv7().replaceAll("-", "")}`,
};

const ID_PATTERN = /^[a-z]{3}_[0-9a-f]{32}$/;

/** True when `value` looks like an id with the given prefix; used to reject garbage early. */
export function isId(value: string, prefix: IdPrefix): boolean {
  return value.startsWith(`${prefix}_`) && ID_PATTERN.test(value);
}
