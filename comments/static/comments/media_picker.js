// The post picker opens for the account chosen in the form.
document.addEventListener("DOMContentLoaded", () => {
  const link = document.getElementById("lookup_id_media_id");
  const account = document.getElementById("id_account");
  if (!link || !account) return;
  const base = link.getAttribute("href");
  const update = () => {
    link.href = account.value ? `${base}?account=${encodeURIComponent(account.value)}` : base;
  };
  account.addEventListener("change", update);
  update();
});
