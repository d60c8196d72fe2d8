"use strict";
/*
 * The app's own users: an in-memory list, passwords kept only as scrypt hashes (a random
 * salt each). A real app has its database here; miroconnect never sees a password, only
 * the user id this app gives it.
 */

const crypto = require("node:crypto");
const { promisify } = require("node:util");

const scrypt = promisify(crypto.scrypt);
const KEY_LENGTH = 64;

async function hashPassword(password, salt = crypto.randomBytes(16)) {
  return { salt, hash: await scrypt(password, salt, KEY_LENGTH) };
}

class Users {
  constructor() {
    this.byName = new Map();
    // Compared against when the name is unknown, so both cases take as long.
    this.decoy = null;
  }

  /* "alice:password,bob:password" -> users alice and bob. */
  static async fromSpec(spec) {
    const users = new Users();
    users.decoy = await hashPassword(crypto.randomBytes(16).toString("hex"));
    for (const entry of spec.split(",").map((part) => part.trim()).filter(Boolean)) {
      const at = entry.indexOf(":");
      if (at < 1 || at === entry.length - 1) {
        throw new Error("EXAMPLE_USERS: each entry is name:password");
      }
      await users.add(entry.slice(0, at), entry.slice(at + 1));
    }
    return users;
  }

  async add(name, password) {
    if (!/^[a-z0-9_.-]{1,64}$/.test(name)) {
      throw new Error(`EXAMPLE_USERS: ${JSON.stringify(name)} is not a valid name`);
    }
    // The id this app gives the user everywhere, miroconnect included.
    this.byName.set(name, { id: `user-${name}`, name, ...(await hashPassword(password)) });
  }

  /* The user, if `password` is theirs; else null. */
  async check(name, password) {
    const user = this.byName.get(String(name));
    const stored = user || this.decoy;
    const { hash } = await hashPassword(String(password), stored.salt);
    const same = crypto.timingSafeEqual(hash, stored.hash);
    return user && same ? user : null;
  }

  byId(id) {
    for (const user of this.byName.values()) {
      if (user.id === id) {
        return user;
      }
    }
    return null;
  }
}

module.exports = { Users };
