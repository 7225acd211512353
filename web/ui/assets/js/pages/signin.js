// Sign in; signup.js shares this module's form handling.
import { accountForm } from "../account.js";

accountForm("/auth/login", (status, code) =>
  code === "bad_credentials" ? "That email and password do not match an account. Check them, or create an account." : null);
