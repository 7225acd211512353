// Create a fan account (the API signs the new fan in at once).
import { accountForm } from "../account.js";

accountForm("/users", (status, code) =>
  code === "email_taken" ? "An account with this email exists already. Sign in instead." : null);
